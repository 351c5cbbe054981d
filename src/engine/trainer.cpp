#include "engine/trainer.h"

#include <spdlog/spdlog.h>
#include <ATen/autocast_mode.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <chrono>
#include <cmath>
#include <sstream>

#include "core/atomic_file.h"
#include "core/distributed.h"
#include "core/random.h"
#include "engine/batch_source.h"
#include "engine/gradient_sync.h"
#include "engine/run_layout.h"
#include "model/model_checkpoint.h"

namespace toonreid {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

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

Trainer::Trainer(ReidModel model, std::vector<std::string> identities, std::unique_ptr<BatchSource> batches,
                 ModelOptimizer optimizer, Objective objective, TrainerOptions options, fs::path output_dir,
                 std::shared_ptr<ProcessGroup> group)
    : model_(std::move(model)),
      identities_(std::move(identities)),
      batches_(std::move(batches)),
      optimizer_(std::move(optimizer)),
      objective_(std::move(objective)),
      options_(std::move(options)),
      output_dir_(std::move(output_dir)) {
  if (!model_) throw Error("Trainer: no model");
  if (!batches_) throw Error("Trainer: no batch source");
  if (!optimizer_.optimizer || optimizer_.base_lrs.size() != optimizer_.optimizer->param_groups().size())
    throw Error("Trainer: the optimiser's base LRs do not match its parameter groups");
  if (identities_.size() < 2) throw DataError(batches_->describe() + ": training needs at least 2 identities");
  if (group && group->size() > 1) group_ = std::move(group);
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
      if (objective_.options().id_weight == 0 && item.key().rfind("head.classifier", 0) == 0) continue;
      params.push_back(item.value());
      names.push_back(item.key());
    }
  for (const auto& p : objective_.parameters()) params.push_back(p);
  for (const auto& n : objective_.parameter_names()) names.push_back(n);
  averager_ = std::make_unique<GradientAverager>(*group_, std::move(params), std::move(names), options_.bucket_bytes);
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
  for (const auto& p : objective_.parameters()) state.push_back(p);
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> floats, others;
  for (auto& t : state) (t.is_floating_point() ? floats : others).push_back(t);
  group_->broadcast(floats, 0);
  group_->broadcast(others, 0);
  // Any randomness inside the step is drawn per rank, from the seed.
  torch::manual_seed(derive_seed(options_.seed,
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

void Trainer::trainable_parameters_changed() { averager_.reset(); }  // run_epoch builds a new one

void Trainer::set_lr_factor(double factor) {
  auto& groups = optimizer_.optimizer->param_groups();
  for (std::size_t g = 0; g < groups.size(); ++g) groups[g].options().set_lr(optimizer_.base_lrs[g] * factor);
}

EpochStats Trainer::run_epoch() {
  for (auto& h : hooks_) h->before_epoch(*this);
  // Built here, on the parameters as training finds them: loading a checkpoint (resume)
  // can give a parameter a new gradient accumulator, and a hook on the old one never fires.
  if (group_ && !averager_) rebuild_gradient_averager();
  model_->train();
  const int n = batches_->start_epoch(epoch_);
  if (n == 0) throw DataError(batches_->describe() + ": no batch in epoch " + std::to_string(epoch_ + 1) +
                              " (too few identities?)");

  EpochStats stats;
  stats.epoch = epoch_;
  const auto epoch_start = Clock::now();
  int b = 0;
  const torch::Device device = options_.device;
  while (auto batch = batches_->next()) {
    const auto start = Clock::now();
    for (auto& h : hooks_) h->before_iteration(*this, b, n);
    torch::Tensor images = batch->images.to(device), labels = batch->labels.to(device),
                  domains = batch->domains.to(device);
    optimizer_.optimizer->zero_grad();
    objective_.zero_grad();
    HeadOutput out;
    ObjectiveTerms terms;
    {
      AutocastScope autocast(options_.amp);
      out = model_->forward(images);
      if (group_ && options_.gather_features && objective_.options().triplet_weight > 0) {
        // Batch-hard mining over the global batch; gradients reach this rank's rows.
        const TripletBatch global{all_gather_with_grad(*group_, out.pooled), group_->all_gather(labels),
                                  group_->all_gather(domains)};
        terms = objective_.compute(out, images, labels, domains, &global);
      } else {
        terms = objective_.compute(out, images, labels, domains);
      }
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
    if (options_.clip_grad_norm > 0) torch::nn::utils::clip_grad_norm_(model_->parameters(), options_.clip_grad_norm);
    optimizer_.optimizer->step();
    objective_.step();
    ++iteration_;
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    IterationStats it;
    it.epoch = epoch_;
    it.iteration = iteration_;
    it.batch = b;
    it.batches = n;
    it.losses = terms.values;
    it.accuracy = terms.accuracy;
    it.lr = optimizer_.optimizer->param_groups().front().options().get_lr();
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

void Trainer::train() {
  fs::create_directories(output_dir_);
  if (group_) synchronise_start();
  // The starting weights of fine-tuning: the model as training finds it (after
  // model.init_checkpoint), unless a resumed checkpoint brought the original ones.
  if (objective_.needs_starting_weights() && !objective_.anchored())
    objective_.anchor(model_, Objective::starting_weights_of(model_));
  if (is_main() && !options_.model_config.empty())
    write_file_atomically(RunLayout(output_dir_).config(), options_.model_config);
  for (auto& h : hooks_) h->before_train(*this);
  while (epoch_ < options_.epochs) {
    EpochStats stats = run_epoch();
    ++epoch_;
    for (auto& h : hooks_) h->after_epoch(*this, stats);
  }
  for (auto& h : hooks_) h->after_train(*this);
}

void Trainer::save_checkpoint(const fs::path& file) {
  torch::serialize::OutputArchive archive;
  ModelCheckpointInfo info{options_.model_config, identities_, epoch_};
  write_model_part(archive, model_, info);
  archive.write("iteration", c10::IValue(iteration_));
  archive.write("best_metric", c10::IValue(best_metric_));
  torch::serialize::OutputArchive opt;
  optimizer_.optimizer->save(opt);
  archive.write("optimizer", opt);
  objective_.save(archive);
  write_file_atomically(file, [&](std::ostream& out) { archive.save_to(out); });
}

void Trainer::resume(const fs::path& checkpoint) {
  if (!fs::exists(checkpoint)) throw Error("checkpoint to resume from not found: " + checkpoint.string());
  torch::serialize::InputArchive archive;
  archive.load_from(checkpoint.string(), options_.device);
  ModelCheckpointInfo info = read_model_info(archive, checkpoint.string());
  if (info.identities != identities_)
    throw Error(checkpoint.string() + ": trained on other identities than this training data (" +
                batches_->describe() + "); cannot resume");
  read_model_weights(archive, model_);
  c10::IValue iteration, best;
  archive.read("iteration", iteration);
  archive.read("best_metric", best);
  torch::serialize::InputArchive opt;
  archive.read("optimizer", opt);
  optimizer_.optimizer->load(opt);
  objective_.load(archive, model_, checkpoint.string());
  epoch_ = static_cast<int>(info.epoch);
  iteration_ = iteration.toInt();
  best_metric_ = best.toDouble();
  spdlog::info("resumed from {} after epoch {} (iteration {})", checkpoint.string(), epoch_, iteration_);
}

}  // namespace toonreid
