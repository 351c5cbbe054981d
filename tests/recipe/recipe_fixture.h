// A small synthetic data set shared by the recipe tests, made once per test program, and
// the tiny config's overrides that keep each training to a few seconds.
#pragma once

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "data/synth/synth_dataset.h"
#include "test_util.h"

namespace toonreid::testing {

class RecipeData {
 public:
  // 6 identities x (3 photos + 3 cartoons), 64 px, seed 5.
  static const std::filesystem::path& root() {
    static RecipeData data;
    return data.root_;
  }
  static std::string config() { return source_dir() + "/configs/tiny.yaml"; }

 private:
  RecipeData() {
    synth::SynthOptions o;
    o.identities = 6, o.photos = 3, o.cartoons = 3, o.size = 64, o.seed = 5;
    root_ = dir_.path() / "toons";
    synth::generate(o, root_);
  }
  TempDir dir_;
  std::filesystem::path root_;
};

// Captures what the library logs while it lives (info level and above).
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(text_);
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() const { return text_.str(); }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream text_;
};

}  // namespace toonreid::testing
