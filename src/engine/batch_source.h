// Where the trainer's batches come from. A BatchSource represents one epoch after another
// of labelled training batches: start_epoch(e) fixes epoch e's batches (a function of the
// source's seed and e, so that a resumed run sees the same ones), next() hands them out
// in order until the epoch is done.
//
// Convention (data/loader.h's Batch): images float32 [B, 3, H, W], already normalised;
// labels int64 [B] in [0, classes); domains int64 [B] (0 photo, 1 cartoon); indices the
// records' positions in the source's data (for logs). Not thread-safe: one trainer
// consumes a source.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "data/dataset.h"
#include "data/loader.h"

namespace toonreid {

class Config;
class ProcessGroup;

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // Starts 0-based epoch `epoch`; returns its number of batches (0: the data cannot fill
  // one, which the trainer reports with describe()).
  virtual int start_epoch(int epoch) = 0;
  // The epoch's next batch; nullopt once every batch of the epoch has been handed out.
  virtual std::optional<Batch> next() = 0;
  // What the batches are drawn from, for messages ("data/toons: 12 identities").
  virtual std::string describe() const = 0;
};

// Batches of images read from disk: a BatchSampler's record indices turned into tensors by
// a BatchLoader's worker threads. `max_batches` > 0 cuts every epoch short (smoke tests).
class LoaderBatchSource : public BatchSource {
 public:
  LoaderBatchSource(const Dataset& data, const LabelMap& labels, std::unique_ptr<BatchSampler> sampler,
                    TransformPipeline transforms, LoaderOptions options, int max_batches = 0);
  ~LoaderBatchSource() override;
  int start_epoch(int epoch) override;
  std::optional<Batch> next() override;
  std::string describe() const override;

 private:
  std::string origin_;
  std::unique_ptr<BatchSampler> sampler_;
  std::unique_ptr<BatchLoader> loader_;
  int max_batches_;
};

// Batches of tensors held in memory (no files, no decoding): every epoch a permutation of
// the N samples (seeded by (seed, epoch)) cut into batches of `batch_size`; a last partial
// batch is dropped. Requires: images [N, 3, H, W] float32, labels and domains int64 [N].
class TensorBatchSource : public BatchSource {
 public:
  TensorBatchSource(at::Tensor images, at::Tensor labels, at::Tensor domains, int batch_size, std::uint64_t seed = 0);
  int start_epoch(int epoch) override;
  std::optional<Batch> next() override;
  std::string describe() const override;

 private:
  at::Tensor images_, labels_, domains_;
  int batch_size_;
  std::uint64_t seed_;
  std::vector<BatchIndices> batches_;
  std::size_t next_ = 0;
};

// The configured training source: sampler.* (PK batches), input.* transforms, loader.*
// workers; in a data-parallel job (`group` of more than one process) this rank's share of
// every global batch. Throws ConfigError when the data cannot fill a batch.
std::unique_ptr<BatchSource> build_train_loader(const Config& config, const Dataset& data, const LabelMap& labels,
                                                const ProcessGroup* group = nullptr);

}  // namespace toonreid
