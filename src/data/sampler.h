// Batch samplers: which dataset records form each batch of an epoch.
//
// PKSampler: P identities x K images per batch (BoT's RandomIdentitySampler): every
// identity's images are shuffled and cut into groups of K (an identity with fewer
// than K images is filled up by sampling with replacement), then groups of P distinct
// identities form the batches.
// CrossDomainPKSampler: the same, but each group of an identity that has both photos
// and cartoons holds K/2 of each (the odd one, if any, a photo), so that every anchor
// finds cross-domain positives in its batch.
// SequentialSampler: the records in order, for feature extraction.
//
// All samplers are deterministic functions of (seed, epoch).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace toonreid {

class Config;
class ConfigSchema;

using BatchIndices = std::vector<std::size_t>;

class BatchSampler {
 public:
  virtual ~BatchSampler() = default;
  virtual std::vector<BatchIndices> epoch(std::uint64_t epoch) const = 0;
  virtual std::string describe() const = 0;
};

class PKSampler : public BatchSampler {
 public:
  // labels[i], domains[i]: identity label and domain of record i.
  PKSampler(std::vector<int> labels, int p, int k, std::uint64_t seed);
  std::vector<BatchIndices> epoch(std::uint64_t epoch) const override;
  std::string describe() const override;

 protected:
  // Groups of exactly K record indices, each from one identity, in random order.
  virtual std::vector<std::pair<int, BatchIndices>> make_groups(std::uint64_t epoch) const;
  std::vector<BatchIndices> assemble(std::vector<std::pair<int, BatchIndices>> groups, std::uint64_t epoch) const;

  std::vector<int> labels_;
  int num_labels_ = 0;
  int p_, k_;
  std::uint64_t seed_;
};

class CrossDomainPKSampler : public PKSampler {
 public:
  CrossDomainPKSampler(std::vector<int> labels, std::vector<Domain> domains, int p, int k, std::uint64_t seed);
  std::string describe() const override;

 protected:
  std::vector<std::pair<int, BatchIndices>> make_groups(std::uint64_t epoch) const override;

 private:
  std::vector<Domain> domains_;
};

class SequentialSampler : public BatchSampler {
 public:
  SequentialSampler(std::size_t size, std::size_t batch_size);
  std::vector<BatchIndices> epoch(std::uint64_t epoch) const override;
  std::string describe() const override;

 private:
  std::size_t size_, batch_size_;
};

// One rank's share of another sampler's batches in a data-parallel job: the contiguous
// slots [rank * B / N, (rank + 1) * B / N) of every global batch of B records, so the N
// ranks together see exactly the batches one process would. With whole identity groups
// per rank (P divisible by N) each share is itself a P/N x K batch.
class ShardedBatchSampler : public BatchSampler {
 public:
  // Throws ConfigError when a batch of `global` does not divide into `world` shares.
  ShardedBatchSampler(std::unique_ptr<BatchSampler> global, int rank, int world);
  std::vector<BatchIndices> epoch(std::uint64_t epoch) const override;
  std::string describe() const override;
  // Position of this rank's first record within each global batch (for the loader's
  // per-slot augmentation seeds, so that an image is augmented as in one process).
  std::size_t first_slot(std::size_t global_batch_size) const;

 private:
  std::unique_ptr<BatchSampler> global_;
  int rank_, world_;
};

// Declares the `sampler` section's options.
void add_sampler_options(ConfigSchema& schema);
// Builds the training sampler named by sampler.type for `data`; throws ConfigError
// when the data cannot fill a batch (fewer than P identities).
std::unique_ptr<BatchSampler> make_train_sampler(const Config& config, const Dataset& data, const LabelMap& labels);

}  // namespace toonreid
