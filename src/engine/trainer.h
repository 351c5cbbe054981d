// The training engine: epochs of PK batches through the model, the configured losses,
// the optimiser and the LR schedule, with hooks for everything around the loop
// (progress, JSON-lines log, checkpoints, evaluation). Resumable exactly: the sampler
// and the augmentation are functions of (seed, epoch), and a checkpoint holds the
// model, the optimiser(s) and the epoch.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include "core/config.h"
#include "core/error.h"
#include "data/dataset.h"
#include "engine/lr_schedule.h"
#include "engine/objective.h"
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
  virtual void after_iteration(Trainer&, const IterationStats&) {}
  virtual void after_epoch(Trainer&, const EpochStats&) {}
  virtual void after_train(Trainer&) {}
};

// Raised when the loss stops being finite; training stops, checkpoints stay intact.
class TrainingDiverged : public Error {
 public:
  using Error::Error;
};

void add_train_options(ConfigSchema& schema);

class ProcessGroup;
class GradientAverager;

class Trainer {
 public:
  // `train_data`: the training split; its identities become the classifier's classes.
  // With `group` (a data-parallel job) each rank trains on its share of every global
  // batch (dist.*); gradients are averaged over ranks, parameters broadcast from rank 0
  // when training starts, and losses logged as means over ranks. Hooks that write
  // (logs, checkpoints) belong on rank 0 only (is_main()).
  Trainer(const Config& config, Dataset train_data, std::filesystem::path output_dir,
          std::shared_ptr<ProcessGroup> group = nullptr);
  ~Trainer();

  void add_hook(std::unique_ptr<TrainerHook> hook);
  // Continues from `checkpoint` (model, optimiser, centres, epoch).
  void resume(const std::filesystem::path& checkpoint);
  void train();

  // Atomically writes a checkpoint of the current state.
  void save_checkpoint(const std::filesystem::path& file);

  ReidModel& model() { return model_; }
  const Config& config() const { return config_; }
  const Dataset& data() const { return data_; }
  const std::vector<std::string>& identities() const { return labels_.names; }
  const std::filesystem::path& output_dir() const { return output_dir_; }
  int epoch() const { return epoch_; }  // epochs completed
  int total_epochs() const { return epochs_; }
  int64_t iteration() const { return iteration_; }
  double best_metric() const { return best_metric_; }
  void set_best_metric(double m) { best_metric_ = m; }
  torch::Device device() const { return device_; }
  ProcessGroup* process_group() const { return group_.get(); }
  bool is_main() const;

 private:
  EpochStats run_epoch();
  void apply_freezing();
  // Data-parallel: the averager over the currently trainable parameters (and centres);
  // apply_freezing() drops it when they change.
  void rebuild_gradient_averager();
  // Data-parallel: rank 0's weights everywhere, and every rank at the same point.
  void synchronise_start();
  // Data-parallel: means over ranks of the logged values.
  void average_over_ranks(ObjectiveTerms& terms);
  void set_lr(double factor);

  Config config_;
  Dataset data_;
  LabelMap labels_;
  std::filesystem::path output_dir_;
  torch::Device device_;
  int epochs_;
  int max_batches_;  // per epoch; 0: all
  double clip_norm_;
  ObjectiveOptions objective_;
  LrSchedule schedule_;
  bool amp_;
  ReidModel model_{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<double> group_base_lr_;
  torch::Tensor centers_;
  std::unique_ptr<torch::optim::Optimizer> center_optimizer_;
  std::unique_ptr<class BatchLoader> loader_;
  std::unique_ptr<class BatchSampler> sampler_;
  std::shared_ptr<ProcessGroup> group_;
  bool gather_features_ = false;
  std::size_t bucket_bytes_ = 0;
  std::unique_ptr<GradientAverager> averager_;
  std::vector<std::unique_ptr<TrainerHook>> hooks_;
  // Fine-tuning without forgetting (loss.l2sp_weight, loss.distill_weight): the
  // starting weights, taken when training starts (after model.init_checkpoint) and kept
  // in checkpoints, as L2-SP anchors and as a frozen teacher network.
  std::map<std::string, torch::Tensor> reference_;
  std::vector<torch::Tensor> l2sp_params_, l2sp_anchors_;
  ReidModel teacher_{nullptr};
  void take_reference(std::map<std::string, torch::Tensor> reference);
  int epoch_ = 0;
  int64_t iteration_ = 0;
  double best_metric_ = -1;
};

}  // namespace toonreid
