#include "engine/trainer.h"

#include <spdlog/spdlog.h>
#include <ATen/autocast_mode.h>
#include <torch/cuda.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <chrono>
#include <cmath>
#include <sstream>

#include "core/atomic_file.h"
#include "core/distributed.h"
#include "core/random.h"
#include "engine/gradient_sync.h"
#include "engine/run_layout.h"
#include "data/loader.h"
#include "data/sampler.h"
#include "data/transforms.h"
#include "loss/regularizers.h"
#include "model/model_checkpoint.h"

namespace toonreid {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

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

namespace {

// `local_rank`: a data-parallel process uses the GPU of its local rank.
torch::Device parse_device(const Config& config, int local_rank) {
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

bool is_bias_like(const torch::Tensor& p) { return p.dim() <= 1; }

// bfloat16 autocast on CUDA for the scope's lifetime (LibTorch's C++ autocast switch).
class AutocastScope {
 public:
  explicit AutocastScope(bool on) : on_(on) {
    if (!on_) return;
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  }
  ~AutocastScope() {
    if (!on_) return;
    at::autocast::clear_cache();
    at::autocast::set_enabled(false);
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool on_;
};

}  // namespace

Trainer::Trainer(const Config& config, Dataset train_data, fs::path output_dir, std::shared_ptr<ProcessGroup> group)
    : config_(config),
      data_(std::move(train_data)),
      labels_(make_labels(data_)),
      output_dir_(std::move(output_dir)),
      device_(parse_device(config, group ? group->env().local_rank : 0)),
      epochs_(static_cast<int>(config.get_int("solver.epochs"))),
      max_batches_(static_cast<int>(config.get_int("train.max_batches_per_epoch"))),
      clip_norm_(config.get_float("solver.clip_grad_norm")),
      objective_(objective_options(config)),
      schedule_(lr_schedule_options(config)),
      amp_(config.get_bool("train.amp") && device_.is_cuda()) {
  if (labels_.names.size() < 2) throw DataError(data_.origin() + ": training needs at least 2 identities");
  // Weight initialisation (and the centres) draw from LibTorch's generator: seed it so
  // that a run is a function of run.seed.
  torch::manual_seed(static_cast<uint64_t>(config.get_int("run.seed")));
  // The margin-based losses need cosine logits.
  model_ = build_model(config_, static_cast<int64_t>(labels_.names.size()),
                       objective_.id_loss == "softmax" ? ClassifierKind::Linear : ClassifierKind::Cosine);
  model_->to(device_);

  // Parameter groups: backbone / head x weights / biases (and norm scales).
  const double base = config.get_float("solver.base_lr");
  const double head_factor = config.get_float("solver.head_lr_factor");
  const double bias_factor = config.get_float("solver.bias_lr_factor");
  const double wd = config.get_float("solver.weight_decay"), wd_bias = config.get_float("solver.weight_decay_bias");
  std::vector<torch::Tensor> groups[4];  // backbone w, backbone b, head w, head b
  for (auto& p : model_->backbone().parameters()) groups[is_bias_like(p) ? 1 : 0].push_back(p);
  for (auto& p : model_->head()->parameters())
    if (p.requires_grad()) groups[is_bias_like(p) ? 3 : 2].push_back(p);
  const double lrs[4] = {base, base * bias_factor, base * head_factor, base * head_factor * bias_factor};
  const double wds[4] = {wd, wd_bias, wd, wd_bias};
  const bool sgd = config.get_string("solver.optimizer") == "sgd";
  std::vector<torch::optim::OptimizerParamGroup> param_groups;
  for (int g = 0; g < 4; ++g) {
    if (groups[g].empty()) continue;
    if (sgd) {
      auto o = std::make_unique<torch::optim::SGDOptions>(lrs[g]);
      o->momentum(config.get_float("solver.momentum")).weight_decay(wds[g]).nesterov(config.get_bool("solver.nesterov"));
      param_groups.emplace_back(groups[g], std::move(o));
    } else {
      auto o = std::make_unique<torch::optim::AdamOptions>(lrs[g]);
      o->weight_decay(wds[g]);
      param_groups.emplace_back(groups[g], std::move(o));
    }
    group_base_lr_.push_back(lrs[g]);
  }
  if (sgd) optimizer_ = std::make_unique<torch::optim::SGD>(param_groups, torch::optim::SGDOptions(base));
  else optimizer_ = std::make_unique<torch::optim::Adam>(param_groups, torch::optim::AdamOptions(base));

  if (objective_.center_weight > 0) {
    centers_ = torch::randn({static_cast<int64_t>(labels_.names.size()), model_->backbone().out_channels()},
                            torch::TensorOptions().device(device_))
                   .set_requires_grad(true);
    center_optimizer_ = std::make_unique<torch::optim::SGD>(std::vector<torch::Tensor>{centers_},
                                                            torch::optim::SGDOptions(objective_.center_lr));
  }

  sampler_ = make_train_sampler(config_, data_, labels_);
  LoaderOptions loading = loader_options(config_);
  if (group && group->size() > 1) {
    group_ = std::move(group);
    const DistOptions dist = dist_options(config_);
    gather_features_ = dist.gather_features;
    bucket_bytes_ = static_cast<std::size_t>(dist.bucket_mb * (1 << 20));
    if (dist.sync_batch_norm) model_->synchronize_batch_norm(group_.get());
    const int p = static_cast<int>(config_.get_int("sampler.p")), k = static_cast<int>(config_.get_int("sampler.k"));
    if (p % group_->size() != 0 && !gather_features_ && objective_.triplet_weight > 0)
      spdlog::warn("P = {} identities do not divide among {} processes: identities are split between ranks and the "
                   "per-rank triplet loss loses positives (set dist.gather_features=true)",
                   p, group_->size());
    auto sharded = std::make_unique<ShardedBatchSampler>(std::move(sampler_), group_->rank(), group_->size());
    loading.first_slot = sharded->first_slot(static_cast<std::size_t>(p * k));
    sampler_ = std::move(sharded);
  }
  loader_ = std::make_unique<BatchLoader>(data_, labels_.record_labels, make_transforms(config_, true), loading);
  apply_freezing();
}

Trainer::~Trainer() = default;

bool Trainer::is_main() const { return !group_ || group_->is_main(); }

void Trainer::rebuild_gradient_averager() {
  if (!group_) return;
  std::vector<torch::Tensor> params;
  std::vector<std::string> names;
  for (auto& item : model_->named_parameters())
    if (item.value().requires_grad()) {
      // The classifier gets no gradient when the identity loss is off.
      if (objective_.id_weight == 0 && item.key().rfind("head.classifier", 0) == 0) continue;
      params.push_back(item.value());
      names.push_back(item.key());
    }
  if (centers_.defined()) {
    params.push_back(centers_);
    names.push_back("centers (loss.center_weight)");
  }
  averager_ = std::make_unique<GradientAverager>(*group_, std::move(params), std::move(names), bucket_bytes_);
}

void Trainer::synchronise_start() {
  // Every rank at the same epoch (a resume from different checkpoints would diverge).
  const torch::Tensor position = group_->all_gather(torch::tensor({static_cast<int64_t>(epoch_), iteration_}));
  for (int r = 0; r < group_->size(); ++r)
    if (position[2 * r].item<int64_t>() != epoch_ || position[2 * r + 1].item<int64_t>() != iteration_)
      throw DistributedError("rank " + std::to_string(r) + " starts at epoch " +
                             std::to_string(position[2 * r].item<int64_t>()) + ", iteration " +
                             std::to_string(position[2 * r + 1].item<int64_t>()) + " but rank " +
                             std::to_string(group_->rank()) + " at epoch " + std::to_string(epoch_) + ", iteration " +
                             std::to_string(iteration_) + ": every rank must resume from the same checkpoint");
  // Rank 0's parameters, buffers and centres everywhere (initialisation, loaded weights).
  std::vector<torch::Tensor> state;
  for (auto& p : model_->parameters()) state.push_back(p);
  for (auto& b : model_->buffers()) state.push_back(b);
  if (centers_.defined()) state.push_back(centers_);
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> floats, others;
  for (auto& t : state) (t.is_floating_point() ? floats : others).push_back(t);
  group_->broadcast(floats, 0);
  group_->broadcast(others, 0);
  // Any randomness inside the step is drawn per rank, from the seed.
  torch::manual_seed(derive_seed(static_cast<std::uint64_t>(config_.get_int("run.seed")),
                                 {0xD157ULL, static_cast<std::uint64_t>(group_->rank())}));
}

void Trainer::average_over_ranks(ObjectiveTerms& terms) {
  std::vector<double> values;
  for (const auto& [k, v] : terms.values) values.push_back(v);
  values.push_back(terms.accuracy);
  std::vector<torch::Tensor> t{torch::tensor(values, torch::kDouble)};
  group_->all_reduce_sum(t);
  t[0].div_(group_->size());
  std::size_t i = 0;
  for (auto& [k, v] : terms.values) v = t[0][static_cast<int64_t>(i++)].item<double>();
  terms.accuracy = t[0][static_cast<int64_t>(i)].item<double>();
}

void Trainer::add_hook(std::unique_ptr<TrainerHook> hook) { hooks_.push_back(std::move(hook)); }

void Trainer::apply_freezing() {
  const int stages = static_cast<int>(config_.get_int("solver.freeze_stages"));
  const int until = static_cast<int>(config_.get_int("solver.freeze_epochs"));
  const bool frozen = stages > 0 && (until == 0 || epoch_ < until);
  const int want = frozen ? stages : 0;
  if (model_->frozen_stages() != want) {
    model_->freeze_stages(want);
    if (want > 0) spdlog::info("backbone stages 0..{} frozen", want - 1);
    else if (stages > 0) spdlog::info("backbone stages unfrozen at epoch {}", epoch_ + 1);
    averager_.reset();  // the trainable parameters changed: run_epoch builds a new one
  }
}

void Trainer::set_lr(double factor) {
  auto& groups = optimizer_->param_groups();
  for (std::size_t g = 0; g < groups.size(); ++g) groups[g].options().set_lr(group_base_lr_[g] * factor);
}

EpochStats Trainer::run_epoch() {
  apply_freezing();
  // Built here, on the parameters as training finds them: loading a checkpoint (resume)
  // can give a parameter a new gradient accumulator, and a hook on the old one never fires.
  if (group_ && !averager_) rebuild_gradient_averager();
  model_->train();
  auto batches = sampler_->epoch(static_cast<std::uint64_t>(epoch_));
  if (max_batches_ > 0 && static_cast<int>(batches.size()) > max_batches_) batches.resize(static_cast<std::size_t>(max_batches_));
  if (batches.empty()) throw DataError(data_.origin() + ": the sampler produced no batch (too few identities?)");
  const int n = static_cast<int>(batches.size());
  loader_->start_epoch(std::move(batches), static_cast<std::uint64_t>(epoch_));

  EpochStats stats;
  stats.epoch = epoch_;
  const auto epoch_start = Clock::now();
  int b = 0;
  while (auto batch = loader_->next()) {
    const auto start = Clock::now();
    const double factor = schedule_.factor(epoch_ + static_cast<double>(b) / n);
    set_lr(factor);
    torch::Tensor images = batch->images.to(device_), labels = batch->labels.to(device_),
                  domains = batch->domains.to(device_);
    optimizer_->zero_grad();
    if (center_optimizer_) center_optimizer_->zero_grad();
    HeadOutput out;
    ObjectiveTerms terms;
    {
      AutocastScope autocast(amp_);
      out = model_->forward(images);
      if (gather_features_ && objective_.triplet_weight > 0) {
        // Batch-hard mining over the global batch; gradients reach this rank's rows.
        const TripletBatch global{all_gather_with_grad(*group_, out.pooled), group_->all_gather(labels),
                                  group_->all_gather(domains)};
        terms = compute_objective(out, labels, domains, centers_, objective_, &global);
      } else {
        terms = compute_objective(out, labels, domains, centers_, objective_);
      }
      if (objective_.l2sp_weight > 0) {
        torch::Tensor penalty = l2_sp_penalty(l2sp_params_, l2sp_anchors_);
        terms.total = terms.total + objective_.l2sp_weight * penalty;
        terms.values["l2sp"] = penalty.item<double>();
      }
      if (objective_.distill_weight > 0) {
        torch::Tensor target;
        {
          torch::NoGradGuard no_grad;
          target = teacher_->forward(images).pooled;
        }
        torch::Tensor d = feature_distillation_loss(out.pooled, target);
        terms.total = terms.total + objective_.distill_weight * d;
        terms.values["distill"] = d.item<double>();
      }
      terms.values["total"] = terms.total.item<double>();
    }
    // Every rank sees the same (mean) values, so all stop together on a bad loss.
    if (group_) average_over_ranks(terms);
    if (!std::isfinite(terms.values["total"])) {
      std::ostringstream parts;
      for (const auto& [k, v] : terms.values) parts << " " << k << "=" << v;
      const fs::path last = RunLayout(output_dir_).last_checkpoint();
      throw TrainingDiverged("the loss is not finite at epoch " + std::to_string(epoch_ + 1) + ", batch " +
                             std::to_string(b + 1) + " (" + parts.str().substr(1) + "); training stopped. " +
                             (fs::exists(last) ? "The last good checkpoint is " + last.string() + ". "
                                               : std::string("No epoch had completed, so there is no checkpoint. ")) +
                             "Try a lower solver.base_lr, a longer warm-up or solver.clip_grad_norm.");
    }
    if (averager_) averager_->begin_step();
    terms.total.backward();
    double sync_wait = 0;
    if (averager_) sync_wait = averager_->finish_step().wait_seconds;
    if (clip_norm_ > 0) torch::nn::utils::clip_grad_norm_(model_->parameters(), clip_norm_);
    optimizer_->step();
    if (center_optimizer_) {
      // BoT: centres move at center_lr whatever the loss weight.
      centers_.mutable_grad().mul_(1.0 / objective_.center_weight);
      center_optimizer_->step();
    }
    ++iteration_;
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    IterationStats it;
    it.epoch = epoch_;
    it.iteration = iteration_;
    it.batch = b;
    it.batches = n;
    it.losses = terms.values;
    it.accuracy = terms.accuracy;
    it.lr = group_base_lr_.front() * factor;
    const int ranks = group_ ? group_->size() : 1;
    it.images_per_second = seconds > 0 ? static_cast<double>(batch->indices.size() * ranks) / seconds : 0;
    it.seconds = seconds;
    it.sync_wait_seconds = sync_wait;
    for (const auto& [k, v] : terms.values) stats.mean_losses[k] += v / n;
    stats.mean_accuracy += terms.accuracy / n;
    for (auto& h : hooks_) h->after_iteration(*this, it);
    ++b;
  }
  stats.seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
  return stats;
}

void Trainer::take_reference(std::map<std::string, torch::Tensor> reference) {
  reference_ = std::move(reference);
  l2sp_params_.clear();
  l2sp_anchors_.clear();
  for (auto& item : model_->backbone().named_parameters()) {
    auto it = reference_.find("backbone." + item.key());
    if (it == reference_.end()) throw Error("starting weights lack backbone parameter '" + item.key() + "'");
    l2sp_params_.push_back(item.value());
    l2sp_anchors_.push_back(it->second);
  }
  if (objective_.distill_weight > 0) {
    // The teacher: the same network without a classifier, at the starting weights.
    teacher_ = build_model(config_, 0);
    torch::NoGradGuard no_grad;
    for (auto& item : teacher_->named_parameters()) {
      auto it = reference_.find(item.key());
      if (it == reference_.end()) throw Error("starting weights lack parameter '" + item.key() + "'");
      item.value().copy_(it->second);
      item.value().set_requires_grad(false);
    }
    for (auto& item : teacher_->named_buffers())
      if (auto it = reference_.find(item.key()); it != reference_.end()) item.value().copy_(it->second);
    teacher_->to(device_);
    teacher_->eval();
  }
}

void Trainer::train() {
  fs::create_directories(output_dir_);
  if (group_) synchronise_start();
  if ((objective_.l2sp_weight > 0 || objective_.distill_weight > 0) && reference_.empty()) {
    std::map<std::string, torch::Tensor> reference;
    for (auto& item : model_->named_parameters())
      if (item.key().rfind("head.classifier", 0) != 0) reference[item.key()] = item.value().detach().clone();
    for (auto& item : model_->named_buffers()) reference[item.key()] = item.value().detach().clone();
    take_reference(std::move(reference));
  }
  if (is_main()) write_file_atomically(RunLayout(output_dir_).config(), config_.to_yaml(false));
  for (auto& h : hooks_) h->before_train(*this);
  while (epoch_ < epochs_) {
    EpochStats stats = run_epoch();
    ++epoch_;
    for (auto& h : hooks_) h->after_epoch(*this, stats);
  }
  for (auto& h : hooks_) h->after_train(*this);
}

void Trainer::save_checkpoint(const fs::path& file) {
  torch::serialize::OutputArchive archive;
  ModelCheckpointInfo info{config_.to_yaml(false), labels_.names, epoch_};
  write_model_part(archive, model_, info);
  archive.write("iteration", c10::IValue(iteration_));
  archive.write("best_metric", c10::IValue(best_metric_));
  torch::serialize::OutputArchive opt;
  optimizer_->save(opt);
  archive.write("optimizer", opt);
  if (center_optimizer_) {
    archive.write("centers", centers_.detach(), /*is_buffer=*/true);
    torch::serialize::OutputArchive copt;
    center_optimizer_->save(copt);
    archive.write("center_optimizer", copt);
  }
  if (!reference_.empty()) write_starting_weights(archive, reference_);
  write_file_atomically(file, [&](std::ostream& out) { archive.save_to(out); });
}

void Trainer::resume(const fs::path& checkpoint) {
  if (!fs::exists(checkpoint)) throw Error("checkpoint to resume from not found: " + checkpoint.string());
  torch::serialize::InputArchive archive;
  archive.load_from(checkpoint.string(), device_);
  ModelCheckpointInfo info = read_model_info(archive, checkpoint.string());
  if (info.identities != labels_.names)
    throw Error(checkpoint.string() + ": trained on other identities than data.root's training split; cannot resume");
  read_model_weights(archive, model_);
  c10::IValue iteration, best;
  archive.read("iteration", iteration);
  archive.read("best_metric", best);
  torch::serialize::InputArchive opt;
  archive.read("optimizer", opt);
  optimizer_->load(opt);
  if (center_optimizer_) {
    torch::NoGradGuard no_grad;
    torch::Tensor c;
    archive.read("centers", c, /*is_buffer=*/true);
    centers_.copy_(c);
    torch::serialize::InputArchive copt;
    archive.read("center_optimizer", copt);
    center_optimizer_->load(copt);
  }
  if (objective_.l2sp_weight > 0 || objective_.distill_weight > 0) {
    // The starting weights of the interrupted run, not the resumed ones.
    std::map<std::string, torch::Tensor> reference = read_starting_weights(archive);
    if (reference.empty())
      throw Error(checkpoint.string() + ": no starting weights stored (written without loss.l2sp_weight / "
                  "loss.distill_weight); cannot resume with them on");
    take_reference(std::move(reference));
  }
  epoch_ = static_cast<int>(info.epoch);
  iteration_ = iteration.toInt();
  best_metric_ = best.toDouble();
  apply_freezing();
  spdlog::info("resumed from {} after epoch {} (iteration {})", checkpoint.string(), epoch_, iteration_);
}

}  // namespace toonreid
