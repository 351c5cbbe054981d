#include "engine/solver.h"

#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>

#include "core/config.h"
#include "core/error.h"

namespace toonreid {

void add_solver_options(ConfigSchema& schema) {
  schema.describe_section("solver", "Optimiser, learning-rate schedule and frozen stages.");
  schema.add_string("solver.optimizer", "sgd", "sgd (momentum) or adam").one_of({"sgd", "adam"});
  schema.add_float("solver.base_lr", 0.01, "Base learning rate of the backbone").greater_than(0).max(10);
  schema.add_float("solver.head_lr_factor", 1.0, "Head (BNNeck, classifier) LR = base_lr x this").greater_than(0).max(1000);
  schema.add_float("solver.bias_lr_factor", 1.0, "Bias LR = group LR x this").greater_than(0).max(100);
  schema.add_float("solver.momentum", 0.9, "SGD momentum").range(0, 0.999);
  schema.add_bool("solver.nesterov", false, "SGD Nesterov momentum");
  schema.add_float("solver.weight_decay", 5e-4, "Weight decay of weights").range(0, 1);
  schema.add_float("solver.weight_decay_bias", 5e-4, "Weight decay of biases").range(0, 1);
  schema.add_int("solver.epochs", 40, "Training epochs").range(1, 100000);
  add_lr_schedule_options(schema);
  schema.add_int("solver.freeze_stages", 0, "Backbone stages frozen (0: none; 1: stem; 2: stem and stage 1; ...)").range(0, 5);
  schema.add_int("solver.freeze_epochs", 0, "Epochs the stages stay frozen (0: all of training)").min(0);
  schema.add_float("solver.clip_grad_norm", 0.0, "Clip the global gradient norm (0: off)").min(0);
}

SolverOptions solver_options(const Config& config) {
  SolverOptions s;
  OptimizerOptions& o = s.optimizer;
  o.kind = config.get_string("solver.optimizer");
  o.base_lr = config.get_float("solver.base_lr");
  o.head_lr_factor = config.get_float("solver.head_lr_factor");
  o.bias_lr_factor = config.get_float("solver.bias_lr_factor");
  o.momentum = config.get_float("solver.momentum");
  o.nesterov = config.get_bool("solver.nesterov");
  o.weight_decay = config.get_float("solver.weight_decay");
  o.weight_decay_bias = config.get_float("solver.weight_decay_bias");
  s.schedule = lr_schedule_options(config);
  s.freeze.stages = static_cast<int>(config.get_int("solver.freeze_stages"));
  s.freeze.epochs = static_cast<int>(config.get_int("solver.freeze_epochs"));
  s.epochs = static_cast<int>(config.get_int("solver.epochs"));
  s.clip_grad_norm = config.get_float("solver.clip_grad_norm");
  return s;
}

ModelOptimizer::ModelOptimizer() = default;
ModelOptimizer::ModelOptimizer(ModelOptimizer&&) noexcept = default;
ModelOptimizer& ModelOptimizer::operator=(ModelOptimizer&&) noexcept = default;
ModelOptimizer::~ModelOptimizer() = default;

namespace {
bool is_bias_like(const torch::Tensor& p) { return p.dim() <= 1; }
}  // namespace

ModelOptimizer build_optimizer(ReidModel& model, const OptimizerOptions& o) {
  if (o.kind != "sgd" && o.kind != "adam") throw Error("unknown optimiser '" + o.kind + "' (sgd or adam)");
  std::vector<torch::Tensor> groups[4];  // backbone w, backbone b, head w, head b
  for (auto& p : model->backbone().parameters()) groups[is_bias_like(p) ? 1 : 0].push_back(p);
  for (auto& p : model->head()->parameters())
    if (p.requires_grad()) groups[is_bias_like(p) ? 3 : 2].push_back(p);
  const double base = o.base_lr;
  const double lrs[4] = {base, base * o.bias_lr_factor, base * o.head_lr_factor,
                         base * o.head_lr_factor * o.bias_lr_factor};
  const double wds[4] = {o.weight_decay, o.weight_decay_bias, o.weight_decay, o.weight_decay_bias};
  const bool sgd = o.kind == "sgd";
  ModelOptimizer built;
  std::vector<torch::optim::OptimizerParamGroup> param_groups;
  for (int g = 0; g < 4; ++g) {
    if (groups[g].empty()) continue;
    if (sgd) {
      auto opts = std::make_unique<torch::optim::SGDOptions>(lrs[g]);
      opts->momentum(o.momentum).weight_decay(wds[g]).nesterov(o.nesterov);
      param_groups.emplace_back(groups[g], std::move(opts));
    } else {
      auto opts = std::make_unique<torch::optim::AdamOptions>(lrs[g]);
      opts->weight_decay(wds[g]);
      param_groups.emplace_back(groups[g], std::move(opts));
    }
    built.base_lrs.push_back(lrs[g]);
  }
  if (sgd) built.optimizer = std::make_unique<torch::optim::SGD>(param_groups, torch::optim::SGDOptions(base));
  else built.optimizer = std::make_unique<torch::optim::Adam>(param_groups, torch::optim::AdamOptions(base));
  return built;
}

}  // namespace toonreid
