// The names of a run folder's files are an on-disk contract: runs written by earlier
// versions must still resume, and scripts find checkpoints by these names.
#include <gtest/gtest.h>

#include "engine/run_layout.h"

namespace toonreid {
namespace {

TEST(RunLayout, NamesEveryFileOfARunFolder) {
  const RunLayout run("runs/x");
  EXPECT_EQ(run.root(), "runs/x");
  EXPECT_EQ(run.config(), "runs/x/config.yaml");
  EXPECT_EQ(run.training_log(), "runs/x/train_log.jsonl");
  EXPECT_EQ(run.evaluation(7), "runs/x/eval_epoch7.json");
  EXPECT_EQ(run.checkpoints(), "runs/x/checkpoints");
  EXPECT_EQ(run.last_checkpoint(), "runs/x/checkpoints/last.pt");
  EXPECT_EQ(run.best_checkpoint(), "runs/x/checkpoints/best.pt");
  EXPECT_EQ(run.calibration(), "runs/x/checkpoints/calibration.json");
  EXPECT_EQ(run.final_model(), "runs/x/model_final.pt");
}

}  // namespace
}  // namespace toonreid
