// Turns batches of record indices into tensors on worker threads.
//
// Each worker owns its JPEG decoder and builds whole batches (decode at reduced scale
// when possible -> transforms writing straight into a [B, 3, H, W] float tensor). Batch
// tensors are recycled once the consumer has dropped every reference to them, so a
// steady-state epoch allocates no new batch memory (fresh pages cost page faults). Up to
// `prefetch` batches are prepared ahead of the consumer, and batches come out in
// sampler order whatever the thread timing. With workers = 0 the consumer's thread
// builds each batch itself.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <ATen/core/Tensor.h>

#include "data/dataset.h"
#include "data/sampler.h"
#include "data/transforms.h"

namespace toonreid {

class Config;
class ConfigSchema;

struct Batch {
  at::Tensor images;   // float32 [B, 3, H, W], normalised
  at::Tensor labels;   // int64 [B]
  at::Tensor domains;  // int64 [B]: 0 photo, 1 cartoon
  BatchIndices indices;  // dataset record indices
};

struct LoaderOptions {
  int workers = 2;
  int prefetch = 4;        // batches prepared ahead, in all
  std::uint64_t seed = 0;  // augmentation seed (combined with epoch, batch, slot)
  // Slot number of each batch's first image within the global batch: a data-parallel
  // rank's share is augmented exactly as the same images in one process.
  std::size_t first_slot = 0;
  std::int64_t max_pixels = 40'000'000;  // input.max_pixels: larger images are refused (image_io.h)
};

class BatchLoader {
 public:
  // `labels[i]` is record i's label (-1 if unlabelled). The dataset and pipeline are copied.
  BatchLoader(Dataset data, std::vector<int> labels, TransformPipeline transforms, LoaderOptions options);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Starts producing the given batches; any batches of a previous epoch not yet
  // consumed are dropped.
  void start_epoch(std::vector<BatchIndices> batches, std::uint64_t epoch);
  // The next batch in order, or nothing at the end of the epoch. Rethrows a worker's
  // error (e.g. DataError naming an unreadable image).
  std::optional<Batch> next();
  std::size_t batches_in_epoch() const { return batches_.size(); }

 private:
  Batch build(const BatchIndices& indices, std::size_t batch_number, std::uint64_t epoch,
              class ImageDecoder& decoder) const;
  void worker_loop();
  // A [n, 3, H, W] tensor from the recycling pool, or a new one.
  at::Tensor acquire_images(long n) const;
  void stop_workers();

  Dataset data_;
  std::vector<int> labels_;
  TransformPipeline transforms_;
  LoaderOptions options_;

  std::vector<BatchIndices> batches_;
  std::uint64_t epoch_ = 0;
  std::size_t next_to_build_ = 0;
  std::size_t next_to_return_ = 0;
  std::uint64_t generation_ = 0;  // bumped by start_epoch, so stale work is discarded
  std::map<std::size_t, Batch> ready_;
  std::map<std::size_t, std::exception_ptr> failed_;
  bool stopping_ = false;
  std::mutex mutex_;
  std::condition_variable work_cv_, ready_cv_;
  std::vector<std::thread> threads_;
  std::unique_ptr<class ImageDecoder> inline_decoder_;
  mutable std::mutex pool_mutex_;
  mutable std::vector<at::Tensor> pool_;
};

// Declares the `loader` section's options.
void add_loader_options(ConfigSchema& schema);
// Reads loader.*, run.seed and input.max_pixels (declared by the input section).
LoaderOptions loader_options(const Config& config);

}  // namespace toonreid
