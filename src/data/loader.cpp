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
  if (transforms_.height <= 0 || transforms_.width <= 0) throw Error("BatchLoader: the pipeline must resize");
  if (options_.workers <= 0) {
    inline_decoder_ = std::make_unique<ImageDecoder>();
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

Batch BatchLoader::build(const BatchIndices& indices, std::size_t batch_number, std::uint64_t epoch,
                         ImageDecoder& decoder) const {
  const int h = transforms_.height, w = transforms_.width;
  Batch batch;
  batch.indices = indices;
  batch.images = at::empty({static_cast<long>(indices.size()), 3, h, w}, at::kFloat);
  batch.labels = at::empty({static_cast<long>(indices.size())}, at::kLong);
  batch.domains = at::empty({static_cast<long>(indices.size())}, at::kLong);
  float* out = batch.images.data_ptr<float>();
  auto* labels = batch.labels.data_ptr<int64_t>();
  auto* domains = batch.domains.data_ptr<int64_t>();
  const std::size_t plane = static_cast<std::size_t>(h) * w;
  for (std::size_t slot = 0; slot < indices.size(); ++slot) {
    const ImageRecord& record = data_[indices[slot]];
    Rng rng(derive_seed(options_.seed, {epoch, batch_number, slot}));
    cv::Mat rgb = decoder.read(record.path, w, h);
    cv::Mat x = transforms_(rgb, rng);
    if (x.type() != CV_32FC3 || x.rows != h || x.cols != w)
      throw Error("transform pipeline produced a wrong image for " + record.path.string());
    // HWC -> CHW into the batch tensor.
    float* dst = out + slot * 3 * plane;
    for (int y = 0; y < h; ++y) {
      const float* src = x.ptr<float>(y);
      for (int xx = 0; xx < w; ++xx) {
        const std::size_t o = static_cast<std::size_t>(y) * w + xx;
        dst[o] = src[3 * xx];
        dst[plane + o] = src[3 * xx + 1];
        dst[2 * plane + o] = src[3 * xx + 2];
      }
    }
    labels[slot] = labels_[indices[slot]];
    domains[slot] = static_cast<int64_t>(record.domain);
  }
  return batch;
}

void BatchLoader::worker_loop() {
  ImageDecoder decoder;
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
  return o;
}

}  // namespace toonreid
