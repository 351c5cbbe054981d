#include "recipe/index_setup.h"

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "recipe/open_set_run.h"
#include "serve/gallery_search.h"

namespace toonreid {

IndexSetup::IndexSetup(const std::filesystem::path& dir, OpenMode mode) {
  index_ = std::make_unique<GalleryIndex>(dir, mode);
  for (const auto& r : index_->repairs()) spdlog::warn("{}: {}", dir.string(), r);
  run_ = std::make_unique<RunSetup>(RunSetup::from_text(index_->model().config_yaml, dir.string() + " (its config)"));
  const std::string& weights = index_->model().weights;
  if (!weights.empty() && !std::filesystem::exists(weights))
    throw Error(dir.string() + ": the index was built with " + weights + ", which no longer exists");
  embedder_ = std::make_unique<Embedder>(run_->config(), weights);
  check_same_model(*index_, *embedder_);
}

Calibration calibration_for(const RunSetup& run, Embedder& embedder, const std::string& file, const std::string& data,
                            const std::string& split, bool progress) {
  if (file.empty() == split.empty()) throw Error("calibration: give a calibration file or a split to calibrate on, not both");
  if (!file.empty()) return Calibration::load(file);
  SplitRequest request;
  request.data = data;
  request.split = split;
  return calibrate_model(run, embedder, request, progress);
}

}  // namespace toonreid
