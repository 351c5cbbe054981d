#include "data/loader.h"

#include <ATen/ATen.h>

#include <cstring>

#include "core/config.h"
#include "core/error.h"
#include "core/random.h"
#include "data/image_io.h"

namespace toonreid {

BatchLoader::BatchLoader(Dataset data, std::vector<int> labels, TransformPipeline transforms, LoaderOptions options)
    : data_(std::move(data)), labels_(std::move(labels)), transforms_(std::move(transforms)), options_(options) {
  if (labels_.size() != data_.size()) throw Error("BatchLoader: one label per record is needed");
  if (options_.workers <= 0) {
    inline_decoder_ = std::make_unique<ImageDecoder>();
    inline_decoder_->set_max_pixels(options_.max_pixels);
    return;
  }
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { worker_loop(); });
}

BatchLoader::~BatchLoader() { stop_workers(); }

void BatchLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void BatchLoader::start_epoch(std::vector<BatchIndices> batches, std::uint64_t epoch) {
  for (const auto& b : batches)
    for (std::size_t i : b)
      if (i >= data_.size()) throw Error("BatchLoader: batch index out of range");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    batches_ = std::move(batches);
    epoch_ = epoch;
    next_to_build_ = 0;
    next_to_return_ = 0;
    ++generation_;
    ready_.clear();
    failed_.clear();
  }
  work_cv_.notify_all();
}

at::Tensor BatchLoader::acquire_images(long n) const {
  const long h = transforms_.height(), w = transforms_.width();
  std::lock_guard<std::mutex> lock(pool_mutex_);
  // Free when only the pool references the tensor and its storage (no views alive).
  for (const auto& t : pool_)
    if (t.size(0) == n && t.use_count() == 1 && t.storage().use_count() == 1) return t;
  at::Tensor fresh = at::empty({n, 3, h, w}, at::kFloat);
  const std::size_t limit = static_cast<std::size_t>(std::max(1, options_.prefetch) + options_.workers + 2);
  if (pool_.size() < limit) pool_.push_back(fresh);
  return fresh;
}

Batch BatchLoader::build(const BatchIndices& indices, std::size_t batch_number, std::uint64_t epoch,
                         ImageDecoder& decoder) const {
  const long n = static_cast<long>(indices.size());
  Batch batch;
  batch.indices = indices;
  batch.images = acquire_images(n);
  batch.labels = at::empty({n}, at::kLong);
  batch.domains = at::empty({n}, at::kLong);
  float* out = batch.images.data_ptr<float>();
  auto* labels = batch.labels.data_ptr<int64_t>();
  auto* domains = batch.domains.data_ptr<int64_t>();
  const std::size_t image_floats = 3 * static_cast<std::size_t>(transforms_.height()) * transforms_.width();
  for (std::size_t slot = 0; slot < indices.size(); ++slot) {
    const ImageRecord& record = data_[indices[slot]];
    Rng rng(derive_seed(options_.seed, {epoch, batch_number, options_.first_slot + slot}));
    cv::Mat rgb = decoder.read(record.path, transforms_.width(), transforms_.height());
    transforms_.run(rgb, rng, out + slot * image_floats);
    labels[slot] = labels_[indices[slot]];
    domains[slot] = static_cast<int64_t>(record.domain);
  }
  return batch;
}

void BatchLoader::worker_loop() {
  ImageDecoder decoder;
  decoder.set_max_pixels(options_.max_pixels);
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    work_cv_.wait(lock, [&] {
      return stopping_ || (next_to_build_ < batches_.size() &&
                           next_to_build_ < next_to_return_ + static_cast<std::size_t>(std::max(1, options_.prefetch)));
    });
    if (stopping_) return;
    const std::size_t number = next_to_build_++;
    const std::uint64_t generation = generation_, epoch = epoch_;
    const BatchIndices indices = batches_[number];  // copied: start_epoch may replace batches_
    lock.unlock();
    std::optional<Batch> batch;
    std::exception_ptr error;
    try {
      batch = build(indices, number, epoch, decoder);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    if (generation != generation_) continue;  // a new epoch started meanwhile
    if (error) failed_[number] = error;
    else ready_[number] = std::move(*batch);
    ready_cv_.notify_all();
  }
}

std::optional<Batch> BatchLoader::next() {
  if (threads_.empty()) {
    if (next_to_return_ >= batches_.size()) return std::nullopt;
    const std::size_t number = next_to_return_++;
    return build(batches_[number], number, epoch_, *inline_decoder_);
  }
  std::unique_lock<std::mutex> lock(mutex_);
  if (next_to_return_ >= batches_.size()) return std::nullopt;
  const std::size_t number = next_to_return_;
  ready_cv_.wait(lock, [&] { return ready_.count(number) > 0 || failed_.count(number) > 0; });
  if (auto f = failed_.find(number); f != failed_.end()) {
    std::exception_ptr error = f->second;
    failed_.erase(f);
    ++next_to_return_;
    lock.unlock();
    work_cv_.notify_all();
    std::rethrow_exception(error);
  }
  Batch batch = std::move(ready_.at(number));
  ready_.erase(number);
  ++next_to_return_;
  lock.unlock();
  work_cv_.notify_all();  // a prefetch slot opened
  return batch;
}

void add_loader_options(ConfigSchema& schema) {
  schema.describe_section("loader", "Decoding and augmentation threads.");
  schema.add_int("loader.workers", 2, "Threads that decode and augment images (0: on the training thread)")
      .range(0, 256);
  schema.add_int("loader.prefetch", 4, "Batches prepared ahead of training, in all").range(1, 1024);
}

LoaderOptions loader_options(const Config& config) {
  LoaderOptions o;
  o.workers = static_cast<int>(config.get_int("loader.workers"));
  o.prefetch = static_cast<int>(config.get_int("loader.prefetch"));
  o.seed = static_cast<std::uint64_t>(config.get_int("run.seed"));
  o.max_pixels = config.get_int("input.max_pixels");
  return o;
}

}  // namespace toonreid
