// The solver: the optimiser over a re-identification model's parameter groups, its
// learning-rate schedule and the stages kept frozen. Plain option structs with their
// config adapters (`solver.*`), and a builder that takes the model and the options only.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/lr_schedule.h"
#include "model/reid_model.h"

namespace torch::optim {
class Optimizer;
}

namespace toonreid {

class Config;
class ConfigSchema;

struct OptimizerOptions {
  std::string kind = "sgd";       // sgd (momentum) | adam
  double base_lr = 0.01;          // backbone weights
  double head_lr_factor = 1.0;    // BNNeck and classifier: base_lr x this
  double bias_lr_factor = 1.0;    // biases and norm scales: their group's LR x this
  double momentum = 0.9;          // SGD
  bool nesterov = false;          // SGD
  double weight_decay = 5e-4;     // weights
  double weight_decay_bias = 5e-4;  // biases and norm scales
};

struct FreezeOptions {
  int stages = 0;  // backbone stages frozen (0: none; 1: the stem; 2: stem and stage 1; ...)
  int epochs = 0;  // epochs they stay frozen (0: all of training)
};

struct SolverOptions {
  OptimizerOptions optimizer;
  LrScheduleOptions schedule;
  FreezeOptions freeze;
  int epochs = 40;
  double clip_grad_norm = 0;  // 0: off
};

// Declares every `solver.*` option.
void add_solver_options(ConfigSchema& schema);
// Reads them; throws ConfigError naming the key for values the schema cannot check alone.
SolverOptions solver_options(const Config& config);

// An optimiser and the base LR of each of its parameter groups (the schedule scales them).
struct ModelOptimizer {
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::vector<double> base_lrs;  // one per optimizer->param_groups(), in order
  ModelOptimizer();
  ModelOptimizer(ModelOptimizer&&) noexcept;
  ModelOptimizer& operator=(ModelOptimizer&&) noexcept;
  ~ModelOptimizer();
};

// Requires: `model` built (its parameters are the ones it trains: build the optimiser
// before moving them elsewhere, after moving the model to its device).
// Ensures: up to four groups, in this order and each only when non-empty: backbone
// weights, backbone biases (1-d tensors: biases, norm scales), head weights, head biases;
// head parameters that do not require gradients (a frozen classifier) are left out.
ModelOptimizer build_optimizer(ReidModel& model, const OptimizerOptions& options);

}  // namespace toonreid
