// The files of a training run's folder (run.output_dir), named in one place, as
// fast-reid's Checkpointer owns its names. Every part that writes or finds a run's
// files (the trainer and its hooks, training runs, the pipeline, resuming, reports)
// asks this object:
//
//   config.yaml                    the merged config the run was started with
//   train_log.jsonl                every iteration's, epoch's and evaluation's figures
//   eval_epochN.json               the evaluation after epoch N
//   checkpoints/last.pt            after every epoch: what --resume continues from
//   checkpoints/best.pt            at the best evaluation (validation identities when held out)
//   checkpoints/calibration.json   open-set thresholds of best.pt on the validation identities
//   model_final.pt                 after the last epoch: the run is finished when it exists
//
// A value type; paths are composed, nothing is touched on disk.
#pragma once

#include <filesystem>
#include <string>
#include <utility>

namespace toonreid {

class RunLayout {
 public:
  explicit RunLayout(std::filesystem::path run_dir) : root_(std::move(run_dir)) {}

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path config() const { return root_ / "config.yaml"; }
  std::filesystem::path training_log() const { return root_ / "train_log.jsonl"; }
  std::filesystem::path evaluation(int epoch) const { return root_ / ("eval_epoch" + std::to_string(epoch) + ".json"); }
  std::filesystem::path checkpoints() const { return root_ / "checkpoints"; }
  std::filesystem::path last_checkpoint() const { return checkpoints() / "last.pt"; }
  std::filesystem::path best_checkpoint() const { return checkpoints() / "best.pt"; }
  std::filesystem::path calibration() const { return checkpoints() / "calibration.json"; }
  std::filesystem::path final_model() const { return root_ / "model_final.pt"; }

 private:
  std::filesystem::path root_;
};

}  // namespace toonreid
