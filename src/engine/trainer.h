// The training engine, after fast-reid's SimpleTrainer: a Trainer is given its parts (a
// model, a source of batches, an optimiser and an objective) and runs epochs of
// forward -> objective -> backward -> step; everything around the loop (LR schedule,
// frozen stages, progress, logs, checkpoints, evaluation) is a hook. engine/
// trainer_builder.h builds the parts from a Config. Resumable exactly: the batches are a
// function of (seed, epoch), and a checkpoint holds the model, the optimiser, the
// objective's state and the position.
//
// Hook call order (hooks run in the order they were added; the builder adds FreezeHook
// and LrScheduleHook first):
//   before_train
//   for each epoch: before_epoch, { before_iteration, step, after_iteration } x batches,
//                   after_epoch (epoch() already counts the finished epoch)
//   after_train
// Not thread-safe. Throws TrainingDiverged on a non-finite loss (checkpoints intact),
// DataError when the batch source cannot fill one batch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "core/error.h"
#include "engine/objective.h"
#include "engine/solver.h"
#include "model/reid_model.h"

namespace toonreid {

class Trainer;

struct IterationStats {
  int epoch = 0;          // 0-based
  int64_t iteration = 0;  // global, 1-based after the step
  int batch = 0;          // within the epoch
  int batches = 0;        // in the epoch
  std::map<std::string, double> losses;
  double accuracy = 0;
  double lr = 0;
  double images_per_second = 0;  // over all ranks of a data-parallel job
  double seconds = 0;            // the whole step
  double sync_wait_seconds = 0;  // of which waiting for gradient all-reduces after backward
};

struct EpochStats {
  int epoch = 0;
  std::map<std::string, double> mean_losses;
  double mean_accuracy = 0;
  double seconds = 0;
};

class TrainerHook {
 public:
  virtual ~TrainerHook() = default;
  virtual void before_train(Trainer&) {}
  virtual void before_epoch(Trainer&) {}
  // `batch` of `batches` in the current epoch (t.epoch(), 0-based), before its step.
  virtual void before_iteration(Trainer&, int /*batch*/, int /*batches*/) {}
  virtual void after_iteration(Trainer&, const IterationStats&) {}
  virtual void after_epoch(Trainer&, const EpochStats&) {}
  virtual void after_train(Trainer&) {}
};

// Raised when the loss stops being finite; training stops, checkpoints stay intact.
class TrainingDiverged : public Error {
 public:
  using Error::Error;
};

class ProcessGroup;
class GradientAverager;
class BatchSource;

struct TrainerOptions {
  int epochs = 1;
  double clip_grad_norm = 0;  // global gradient norm (0: off)
  bool amp = false;           // CUDA: forward and losses under bfloat16 autocast
  torch::Device device = torch::kCPU;  // where model, objective and batches live
  std::uint64_t seed = 0;     // data-parallel: per-rank randomness is derived from it
  bool gather_features = false;  // data-parallel: triplet mining over the global batch
  std::size_t bucket_bytes = 25u << 20;  // data-parallel: gradient all-reduce bucket size
  // YAML of the configuration the model was built from: written as config.yaml and into
  // every checkpoint, so that a checkpoint rebuilds its model (load_model_checkpoint).
  std::string model_config;
};

class Trainer {
 public:
  // Requires: `model` on options.device, `optimizer` built over its parameters, `objective`
  // for `identities.size()` classes on the same device; `batches` labels in
  // [0, identities.size()). With `group` (a data-parallel job of more than one process)
  // `batches` gives this rank's share of every global batch; gradients are averaged over
  // ranks, rank 0's parameters broadcast when training starts, logged values are means
  // over ranks. Hooks that write (logs, checkpoints) belong on rank 0 only (is_main()).
  Trainer(ReidModel model, std::vector<std::string> identities, std::unique_ptr<BatchSource> batches,
          ModelOptimizer optimizer, Objective objective, TrainerOptions options, std::filesystem::path output_dir,
          std::shared_ptr<ProcessGroup> group = nullptr);
  ~Trainer();

  void add_hook(std::unique_ptr<TrainerHook> hook);
  // Continues from `checkpoint` (model, optimiser, objective, position). Throws Error when
  // it was trained on other identities.
  void resume(const std::filesystem::path& checkpoint);
  // Trains from epoch() to options.epochs.
  void train();

  // Atomically writes a checkpoint of the current state.
  void save_checkpoint(const std::filesystem::path& file);

  // For hooks: the LR of every optimiser group is its base LR x `factor`.
  void set_lr_factor(double factor);
  // For hooks that change which parameters train (freezing): call after the change.
  void trainable_parameters_changed();

  ReidModel& model() { return model_; }
  Objective& objective() { return objective_; }
  const std::vector<std::string>& identities() const { return identities_; }
  const std::filesystem::path& output_dir() const { return output_dir_; }
  int epoch() const { return epoch_; }  // epochs completed (during an epoch: its 0-based index)
  int total_epochs() const { return options_.epochs; }
  int64_t iteration() const { return iteration_; }
  double best_metric() const { return best_metric_; }
  void set_best_metric(double m) { best_metric_ = m; }
  torch::Device device() const { return options_.device; }
  ProcessGroup* process_group() const { return group_.get(); }
  bool is_main() const;

 private:
  EpochStats run_epoch();
  // Data-parallel: the averager over the currently trainable parameters (and the
  // objective's); trainable_parameters_changed() drops it.
  void rebuild_gradient_averager();
  // Data-parallel: rank 0's weights everywhere, and every rank at the same point.
  void synchronise_start();
  // Data-parallel: means over ranks of the logged values.
  void average_over_ranks(ObjectiveTerms& terms);

  ReidModel model_{nullptr};
  std::vector<std::string> identities_;
  std::unique_ptr<BatchSource> batches_;
  ModelOptimizer optimizer_;
  Objective objective_;
  TrainerOptions options_;
  std::filesystem::path output_dir_;
  std::shared_ptr<ProcessGroup> group_;
  std::unique_ptr<GradientAverager> averager_;
  std::vector<std::unique_ptr<TrainerHook>> hooks_;
  int epoch_ = 0;
  int64_t iteration_ = 0;
  double best_metric_ = -1;
};

}  // namespace toonreid
