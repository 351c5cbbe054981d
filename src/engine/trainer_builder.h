// The thin config adapter of the training engine: builds a Trainer's parts from a Config
// (as fast-reid's build_model / build_optimizer / build_train_loader do) and the trainer
// with the solver's hooks. Each builder below takes plain arguments; only this file and
// the option readers know config keys.
#pragma once

#include <filesystem>
#include <memory>

#include "data/dataset.h"
#include "engine/trainer.h"

namespace toonreid {

class Config;
class ConfigSchema;
class ProcessGroup;

// Declares train.* (device, amp, evaluation during training, batches per epoch).
void add_train_options(ConfigSchema& schema);

// Data-parallel settings of the trainer (dist.gather_features, dist.sync_bn,
// dist.bucket_mb; the connection's own settings are core's DistOptions).
struct DataParallelOptions {
  bool gather_features = false;
  bool sync_batch_norm = false;
  double bucket_mb = 25;
};
void add_data_parallel_options(ConfigSchema& schema);
DataParallelOptions data_parallel_options(const Config& config);

// The device train.device names for the process of `local_rank` (its GPU in a
// data-parallel job). Throws ConfigError when CUDA or that GPU is missing.
torch::Device training_device(const Config& config, int local_rank);

// The configured objective for `classes` identities and `feature_dim`-d pooled
// features on `device`; builds the teacher network when loss.distill_weight > 0.
Objective build_objective(const Config& config, int64_t classes, int64_t feature_dim, torch::Device device);

// Everything from the config: seeds LibTorch's generator with run.seed, then the model
// (classes: train_data's identities; a cosine classifier for the margin losses), its
// optimiser (solver.*), the objective (loss.*), the batch source (sampler.*, input.*,
// loader.*; this rank's share in a data-parallel `group`), and the trainer with a
// FreezeHook and an LrScheduleHook. Throws ConfigError / DataError naming the culprit.
std::unique_ptr<Trainer> build_trainer(const Config& config, const Dataset& train_data,
                                       std::filesystem::path output_dir,
                                       std::shared_ptr<ProcessGroup> group = nullptr);

}  // namespace toonreid
