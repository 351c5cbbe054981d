// Resuming a run folder takes the run's own config.yaml; settings given again must agree.
#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "recipe/recipe_fixture.h"
#include "recipe/run_setup.h"

namespace toonreid {
namespace {

namespace fs = std::filesystem;
using testing::RecipeData;

// A run folder as the trainer leaves it: config.yaml is the merged configuration.
fs::path fake_run(const testing::TempDir& dir) {
  const RunSetup original(RecipeData::config(), {"data.root=" + RecipeData::root().string(), "solver.base_lr=0.002",
                                                 "run.output_dir=" + (dir / "elsewhere").string()});
  const fs::path run = dir / "run";
  fs::create_directories(run);
  write_file_atomically(run / "config.yaml", original.config().to_yaml(false));
  return run;
}

std::string resume_error(const fs::path& run, const std::string& config, const std::vector<std::string>& overrides) {
  try {
    RunSetup::resuming(run, config, overrides);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(RunSetup, ResumingTakesTheRunsOwnConfig) {
  testing::TempDir dir;
  const fs::path run = fake_run(dir);
  const RunSetup resumed = RunSetup::resuming(run, "", {});
  EXPECT_EQ(resumed.config().get_string("data.root"), RecipeData::root().string());
  EXPECT_DOUBLE_EQ(resumed.config().get_float("solver.base_lr"), 0.002);
  EXPECT_EQ(resumed.config().get_string("run.output_dir"), run.string());  // where it is now
  // Settings that do not change results may differ; agreeing ones may be repeated.
  const RunSetup more = RunSetup::resuming(run, "", {"run.threads=1", "loader.workers=0", "solver.base_lr=0.002"});
  EXPECT_EQ(more.config().get_int("loader.workers"), 0);
}

TEST(RunSetup, ResumingRefusesContradictionsNamingEachKey) {
  testing::TempDir dir;
  const fs::path run = fake_run(dir);
  const std::string e = resume_error(run, "", {"solver.base_lr=0.1", "solver.epochs=3"});
  EXPECT_NE(e.find("solver.base_lr: the run has 0.002, the command line gives 0.1"), std::string::npos) << e;
  EXPECT_NE(e.find("solver.epochs"), std::string::npos) << e;
  // The config file without the run's overrides differs in data.root and the LR.
  const std::string f = resume_error(run, RecipeData::config(), {});
  EXPECT_NE(f.find("data.root"), std::string::npos) << f;
  EXPECT_NE(f.find("solver.base_lr"), std::string::npos) << f;
  EXPECT_EQ(f.find("run.output_dir"), std::string::npos) << f;
  // With the run's overrides repeated, the same config file agrees.
  EXPECT_EQ(resume_error(run, RecipeData::config(), {"data.root=" + RecipeData::root().string(), "solver.base_lr=0.002"}), "");
  EXPECT_NE(resume_error(dir / "missing", "", {}).find("no such run folder"), std::string::npos);
  fs::create_directories(dir / "empty");
  EXPECT_NE(resume_error(dir / "empty", "", {}).find("no config.yaml"), std::string::npos);
}

}  // namespace
}  // namespace toonreid
