#include "engine/batch_source.h"

#include <torch/torch.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "core/config.h"
#include "core/distributed.h"
#include "core/error.h"
#include "core/random.h"
#include "data/transforms.h"

namespace toonreid {

LoaderBatchSource::LoaderBatchSource(const Dataset& data, const LabelMap& labels, std::unique_ptr<BatchSampler> sampler,
                                     TransformPipeline transforms, LoaderOptions options, int max_batches)
    : origin_(data.origin()),
      sampler_(std::move(sampler)),
      loader_(std::make_unique<BatchLoader>(data, labels.record_labels, std::move(transforms), options)),
      max_batches_(max_batches) {}

LoaderBatchSource::~LoaderBatchSource() = default;

int LoaderBatchSource::start_epoch(int epoch) {
  auto batches = sampler_->epoch(static_cast<std::uint64_t>(epoch));
  if (max_batches_ > 0 && static_cast<int>(batches.size()) > max_batches_)
    batches.resize(static_cast<std::size_t>(max_batches_));
  const int n = static_cast<int>(batches.size());
  if (n > 0) loader_->start_epoch(std::move(batches), static_cast<std::uint64_t>(epoch));
  return n;
}

std::optional<Batch> LoaderBatchSource::next() { return loader_->next(); }

std::string LoaderBatchSource::describe() const { return origin_ + " (" + sampler_->describe() + ")"; }

TensorBatchSource::TensorBatchSource(at::Tensor images, at::Tensor labels, at::Tensor domains, int batch_size,
                                     std::uint64_t seed)
    : images_(std::move(images)),
      labels_(std::move(labels)),
      domains_(std::move(domains)),
      batch_size_(batch_size),
      seed_(seed) {
  if (images_.dim() != 4 || images_.size(1) != 3)
    throw Error("TensorBatchSource: images must be [N, 3, H, W], got " + std::to_string(images_.dim()) + "-d");
  if (labels_.dim() != 1 || domains_.dim() != 1 || labels_.size(0) != images_.size(0) ||
      domains_.size(0) != images_.size(0))
    throw Error("TensorBatchSource: labels and domains must be [N] with N = " + std::to_string(images_.size(0)));
  if (batch_size_ < 1) throw Error("TensorBatchSource: batch size must be positive");
  labels_ = labels_.to(torch::kLong);
  domains_ = domains_.to(torch::kLong);
}

int TensorBatchSource::start_epoch(int epoch) {
  std::vector<std::size_t> order(static_cast<std::size_t>(images_.size(0)));
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::mt19937_64 rng(derive_seed(seed_, {static_cast<std::uint64_t>(epoch)}));
  std::shuffle(order.begin(), order.end(), rng);
  batches_.clear();
  next_ = 0;
  const auto b = static_cast<std::size_t>(batch_size_);
  for (std::size_t start = 0; start + b <= order.size(); start += b)
    batches_.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(start),
                          order.begin() + static_cast<std::ptrdiff_t>(start + b));
  return static_cast<int>(batches_.size());
}

std::optional<Batch> TensorBatchSource::next() {
  if (next_ >= batches_.size()) return std::nullopt;
  const BatchIndices& indices = batches_[next_++];
  std::vector<int64_t> rows(indices.begin(), indices.end());
  const torch::Tensor select = torch::tensor(rows, torch::kLong);
  return Batch{images_.index_select(0, select), labels_.index_select(0, select), domains_.index_select(0, select),
               indices};
}

std::string TensorBatchSource::describe() const {
  return "in-memory batches (" + std::to_string(images_.size(0)) + " samples, batch " + std::to_string(batch_size_) +
         ")";
}

std::unique_ptr<BatchSource> build_train_loader(const Config& config, const Dataset& data, const LabelMap& labels,
                                                const ProcessGroup* group) {
  std::unique_ptr<BatchSampler> sampler = make_train_sampler(config, data, labels);
  LoaderOptions loading = loader_options(config);
  if (group && group->size() > 1) {
    const auto p = static_cast<std::size_t>(config.get_int("sampler.p"));
    const auto k = static_cast<std::size_t>(config.get_int("sampler.k"));
    auto sharded = std::make_unique<ShardedBatchSampler>(std::move(sampler), group->rank(), group->size());
    loading.first_slot = sharded->first_slot(p * k);
    sampler = std::move(sharded);
  }
  return std::make_unique<LoaderBatchSource>(data, labels, std::move(sampler), make_transforms(config, true), loading,
                                             static_cast<int>(config.get_int("train.max_batches_per_epoch")));
}

}  // namespace toonreid
