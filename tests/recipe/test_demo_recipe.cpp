// `make demo`'s recipe, run through the library: its comparison table (wall times aside)
// must equal tests/data/demo_comparison.md, the table `make demo` printed before the
// recipe moved from the command line into src/recipe (same data, seed and threads).
// A change that alters training or retrieval results on purpose regenerates that file.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "data/synth/synth_dataset.h"
#include "recipe/pipeline.h"
#include "test_util.h"

namespace toonreid {
namespace {

std::string without_wall_times(const std::string& table) {
  return std::regex_replace(table, std::regex(R"( [0-9.]+ min \|)"), " |");
}

TEST(DemoRecipe, ComparisonTableIsUnchanged) {
  testing::TempDir dir;
  synth::SynthOptions o;  // make demo: --identities 60 --photos 8 --cartoons 8 --size 128 --seed 7
  o.identities = 60, o.photos = 8, o.cartoons = 8, o.size = 128, o.seed = 7;
  synth::generate(o, dir / "synth");
  PipelineArgs args;
  args.config = testing::source_dir() + "/configs/pipeline_demo.yaml";
  args.output = (dir / "pipeline").string();
  args.overrides = {"data.root=" + (dir / "synth").string(), "run.threads=2"};
  args.progress = false;
  const PipelineResult result = run_pipeline(args);
  std::ifstream in(testing::source_dir() + "/tests/data/demo_comparison.md");
  std::stringstream expected;
  expected << in.rdbuf();
  EXPECT_EQ(without_wall_times(result.table), expected.str());
}

}  // namespace
}  // namespace toonreid
