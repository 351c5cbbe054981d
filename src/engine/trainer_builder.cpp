#include "engine/trainer_builder.h"

#include <spdlog/spdlog.h>
#include <torch/cuda.h>

#include "core/config.h"
#include "core/distributed.h"
#include "core/error.h"
#include "engine/batch_source.h"
#include "engine/hooks.h"

namespace toonreid {

void add_train_options(ConfigSchema& schema) {
  schema.describe_section("train", "Where and how the training loop runs.");
  schema.add_string("train.device", "cpu", "cpu or cuda (a CUDA-enabled LibTorch is needed for cuda)")
      .one_of({"cpu", "cuda"});
  schema.add_bool("train.amp", true,
                  "CUDA only: run forward and losses under bfloat16 autocast (no loss scaling needed)");
  schema.add_int("train.eval_every", 0, "Evaluate on data.test_split every N epochs (0: only after training)").min(0);
  schema.add_bool("train.eval", true, "Evaluate on data.test_split after training (and every eval_every epochs)");
  schema.add_int("train.max_batches_per_epoch", 0, "Stop each epoch after this many batches (0: all); for smoke tests")
      .min(0);
}

void add_data_parallel_options(ConfigSchema& schema) {
  schema.add_bool("dist.gather_features", false,
                  "Triplet loss over the global batch: features all-gathered, gradients reach each rank's own rows");
  schema.add_bool("dist.sync_bn", false, "BatchNorm statistics over the global batch (else per rank)");
  schema.add_float("dist.bucket_mb", 25, "Gradients are all-reduced in buckets of about this many MB").greater_than(0);
}

DataParallelOptions data_parallel_options(const Config& config) {
  DataParallelOptions o;
  o.gather_features = config.get_bool("dist.gather_features");
  o.sync_batch_norm = config.get_bool("dist.sync_bn");
  o.bucket_mb = config.get_float("dist.bucket_mb");
  return o;
}

torch::Device training_device(const Config& config, int local_rank) {
  if (config.get_string("train.device") == "cuda") {
    if (!torch::cuda::is_available())
      throw ConfigError(config.describe("train.device") + ": CUDA is not available in this LibTorch build or machine");
    if (local_rank >= static_cast<int>(torch::cuda::device_count()))
      throw ConfigError("LOCAL_RANK " + std::to_string(local_rank) + " has no GPU: this machine has " +
                        std::to_string(torch::cuda::device_count()) + " (launch at most that many processes)");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank));
  }
  return torch::Device(torch::kCPU);
}

Objective build_objective(const Config& config, int64_t classes, int64_t feature_dim, torch::Device device) {
  ObjectiveOptions options = objective_options(config);
  const bool distill = options.distill_weight > 0;
  Objective objective(std::move(options), classes, feature_dim, device);
  // The teacher is the same network without a classifier; its weights come from anchor().
  // Built after the centres, so that its initialisation does not move their draw.
  if (distill) objective.set_teacher(build_model(config, 0));
  return objective;
}

std::unique_ptr<Trainer> build_trainer(const Config& config, const Dataset& train_data,
                                       std::filesystem::path output_dir, std::shared_ptr<ProcessGroup> group) {
  if (group && group->size() <= 1) group = nullptr;
  const LabelMap labels = make_labels(train_data);
  if (labels.names.size() < 2) throw DataError(train_data.origin() + ": training needs at least 2 identities");
  const auto classes = static_cast<int64_t>(labels.names.size());
  TrainerOptions options;
  options.device = training_device(config, group ? group->env().local_rank : 0);
  options.seed = static_cast<std::uint64_t>(config.get_int("run.seed"));
  const SolverOptions solver = solver_options(config);
  options.epochs = solver.epochs;
  options.clip_grad_norm = solver.clip_grad_norm;
  options.amp = config.get_bool("train.amp") && options.device.is_cuda();
  options.model_config = config.to_yaml(false);

  // Weight initialisation and the centres draw from LibTorch's generator: seed it so
  // that a run is a function of run.seed (model, then centres, in this order).
  torch::manual_seed(options.seed);
  const ObjectiveOptions loss = objective_options(config);
  ReidModel model =
      build_model(config, classes, loss.id_loss == "softmax" ? ClassifierKind::Linear : ClassifierKind::Cosine);
  model->to(options.device);
  ModelOptimizer optimizer = build_optimizer(model, solver.optimizer);
  Objective objective = build_objective(config, classes, model->backbone().out_channels(), options.device);

  if (group) {
    const DataParallelOptions dist = data_parallel_options(config);
    options.gather_features = dist.gather_features;
    options.bucket_bytes = static_cast<std::size_t>(dist.bucket_mb * (1 << 20));
    if (dist.sync_batch_norm) model->synchronize_batch_norm(group.get());
    const auto p = config.get_int("sampler.p");
    if (p % group->size() != 0 && !dist.gather_features && loss.triplet_weight > 0)
      spdlog::warn("P = {} identities do not divide among {} processes: identities are split between ranks and the "
                   "per-rank triplet loss loses positives (set dist.gather_features=true)",
                   p, group->size());
  }
  std::unique_ptr<BatchSource> batches = build_train_loader(config, train_data, labels, group.get());
  auto trainer = std::make_unique<Trainer>(std::move(model), labels.names, std::move(batches), std::move(optimizer),
                                           std::move(objective), std::move(options), std::move(output_dir),
                                           std::move(group));
  trainer->add_hook(std::make_unique<FreezeHook>(solver.freeze));
  trainer->add_hook(std::make_unique<LrScheduleHook>(solver.schedule));
  return trainer;
}

}  // namespace toonreid
