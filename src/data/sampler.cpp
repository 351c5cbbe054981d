#include "data/sampler.h"

#include <algorithm>
#include <deque>

#include "core/config.h"
#include "core/error.h"
#include "core/random.h"

namespace toonreid {

namespace {

// Shuffles `pool` and cuts it into groups of `size`; the last partial group is filled
// by sampling from the pool with replacement. A pool smaller than `size` gives one
// group drawn with replacement (all of its images, then repeats).
std::vector<BatchIndices> cut_groups(std::vector<std::size_t> pool, std::size_t size, std::size_t count, Rng& rng) {
  std::vector<BatchIndices> groups;
  if (pool.empty() || size == 0) return groups;
  std::shuffle(pool.begin(), pool.end(), rng.engine());
  if (count == 0) count = (pool.size() + size - 1) / size;
  std::size_t cursor = 0;
  for (std::size_t g = 0; g < count; ++g) {
    BatchIndices group;
    for (std::size_t j = 0; j < size; ++j) {
      if (cursor < pool.size()) group.push_back(pool[cursor++]);
      else group.push_back(pool[static_cast<std::size_t>(rng.integer(0, static_cast<long long>(pool.size()) - 1))]);
    }
    groups.push_back(std::move(group));
  }
  return groups;
}

}  // namespace

PKSampler::PKSampler(std::vector<int> labels, int p, int k, std::uint64_t seed)
    : labels_(std::move(labels)), p_(p), k_(k), seed_(seed) {
  if (p < 1 || k < 1) throw Error("PK sampler: P and K must be positive");
  for (int l : labels_) num_labels_ = std::max(num_labels_, l + 1);
  if (num_labels_ < p)
    throw DataError("PK sampler: P = " + std::to_string(p) + " identities per batch, but the data has only " +
                    std::to_string(num_labels_));
}

std::vector<std::pair<int, BatchIndices>> PKSampler::make_groups(std::uint64_t epoch) const {
  std::vector<std::vector<std::size_t>> by_label(static_cast<std::size_t>(num_labels_));
  for (std::size_t i = 0; i < labels_.size(); ++i) by_label[static_cast<std::size_t>(labels_[i])].push_back(i);
  std::vector<std::pair<int, BatchIndices>> groups;
  for (int l = 0; l < num_labels_; ++l) {
    Rng rng(derive_seed(seed_, {epoch, static_cast<std::uint64_t>(l), 1}));
    for (auto& g : cut_groups(by_label[static_cast<std::size_t>(l)], static_cast<std::size_t>(k_), 0, rng))
      groups.emplace_back(l, std::move(g));
  }
  return groups;
}

std::vector<BatchIndices> PKSampler::assemble(std::vector<std::pair<int, BatchIndices>> groups,
                                              std::uint64_t epoch) const {
  Rng rng(derive_seed(seed_, {epoch, 0xBA7C4}));
  // Queue of groups per identity; each batch draws P distinct identities weighted by
  // how many groups they still have, so large identities are spread over the epoch.
  std::vector<std::deque<BatchIndices>> pending(static_cast<std::size_t>(num_labels_));
  std::shuffle(groups.begin(), groups.end(), rng.engine());
  for (auto& [label, g] : groups) pending[static_cast<std::size_t>(label)].push_back(std::move(g));
  std::vector<BatchIndices> batches;
  while (true) {
    std::vector<int> available;
    for (int l = 0; l < num_labels_; ++l)
      if (!pending[static_cast<std::size_t>(l)].empty()) available.push_back(l);
    if (static_cast<int>(available.size()) < p_) break;  // the rest cannot form a full batch
    std::shuffle(available.begin(), available.end(), rng.engine());
    // Prefer identities with more remaining groups (stable partial sort on the shuffled list).
    std::stable_sort(available.begin(), available.end(), [&](int a, int b) {
      return pending[static_cast<std::size_t>(a)].size() > pending[static_cast<std::size_t>(b)].size();
    });
    // Mix: half the batch from the fullest identities, half uniformly from the rest.
    std::vector<int> chosen(available.begin(), available.begin() + (p_ + 1) / 2);
    std::vector<int> rest(available.begin() + (p_ + 1) / 2, available.end());
    std::shuffle(rest.begin(), rest.end(), rng.engine());
    chosen.insert(chosen.end(), rest.begin(), rest.begin() + (p_ - static_cast<int>(chosen.size())));
    BatchIndices batch;
    for (int l : chosen) {
      auto& q = pending[static_cast<std::size_t>(l)];
      batch.insert(batch.end(), q.front().begin(), q.front().end());
      q.pop_front();
    }
    batches.push_back(std::move(batch));
  }
  return batches;
}

std::vector<BatchIndices> PKSampler::epoch(std::uint64_t epoch) const { return assemble(make_groups(epoch), epoch); }

std::string PKSampler::describe() const {
  return "PKSampler(P=" + std::to_string(p_) + ", K=" + std::to_string(k_) + ", identities=" +
         std::to_string(num_labels_) + ")";
}

CrossDomainPKSampler::CrossDomainPKSampler(std::vector<int> labels, std::vector<Domain> domains, int p, int k,
                                           std::uint64_t seed)
    : PKSampler(std::move(labels), p, k, seed), domains_(std::move(domains)) {
  if (domains_.size() != labels_.size()) throw Error("cross-domain sampler: one domain per record is needed");
  if (k < 2) throw DataError("cross-domain PK sampler: K must be at least 2 (a photo and a cartoon per identity)");
}

std::vector<std::pair<int, BatchIndices>> CrossDomainPKSampler::make_groups(std::uint64_t epoch) const {
  std::vector<std::vector<std::size_t>> photos(static_cast<std::size_t>(num_labels_)),
      cartoons(static_cast<std::size_t>(num_labels_));
  for (std::size_t i = 0; i < labels_.size(); ++i)
    (domains_[i] == Domain::Photo ? photos : cartoons)[static_cast<std::size_t>(labels_[i])].push_back(i);
  const std::size_t k = static_cast<std::size_t>(k_);
  const std::size_t k_photo = (k + 1) / 2, k_cartoon = k / 2;
  std::vector<std::pair<int, BatchIndices>> groups;
  for (int l = 0; l < num_labels_; ++l) {
    Rng rng(derive_seed(seed_, {epoch, static_cast<std::uint64_t>(l), 2}));
    const auto& ph = photos[static_cast<std::size_t>(l)];
    const auto& ca = cartoons[static_cast<std::size_t>(l)];
    if (ph.empty() || ca.empty()) {  // single-domain identity: plain groups of K
      for (auto& g : cut_groups(ph.empty() ? ca : ph, k, 0, rng)) groups.emplace_back(l, std::move(g));
      continue;
    }
    // As many groups as the larger domain needs; the smaller one repeats images.
    std::size_t count = std::max((ph.size() + k_photo - 1) / k_photo, (ca.size() + k_cartoon - 1) / k_cartoon);
    auto gp = cut_groups(ph, k_photo, count, rng);
    auto gc = cut_groups(ca, k_cartoon, count, rng);
    for (std::size_t g = 0; g < count; ++g) {
      BatchIndices group = std::move(gp[g]);
      group.insert(group.end(), gc[g].begin(), gc[g].end());
      groups.emplace_back(l, std::move(group));
    }
  }
  return groups;
}

std::string CrossDomainPKSampler::describe() const {
  return "CrossDomainPKSampler(P=" + std::to_string(p_) + ", K=" + std::to_string(k_) + ", identities=" +
         std::to_string(num_labels_) + ")";
}

SequentialSampler::SequentialSampler(std::size_t size, std::size_t batch_size) : size_(size), batch_size_(batch_size) {
  if (batch_size == 0) throw Error("sequential sampler: batch size must be positive");
}

std::vector<BatchIndices> SequentialSampler::epoch(std::uint64_t) const {
  std::vector<BatchIndices> batches;
  for (std::size_t start = 0; start < size_; start += batch_size_) {
    BatchIndices b;
    for (std::size_t i = start; i < std::min(size_, start + batch_size_); ++i) b.push_back(i);
    batches.push_back(std::move(b));
  }
  return batches;
}

std::string SequentialSampler::describe() const {
  return "SequentialSampler(batch=" + std::to_string(batch_size_) + ")";
}

ShardedBatchSampler::ShardedBatchSampler(std::unique_ptr<BatchSampler> global, int rank, int world)
    : global_(std::move(global)), rank_(rank), world_(world) {
  if (world < 1 || rank < 0 || rank >= world) throw Error("sharded sampler: rank outside [0, world size)");
}

std::vector<BatchIndices> ShardedBatchSampler::epoch(std::uint64_t epoch) const {
  std::vector<BatchIndices> shares;
  for (const BatchIndices& batch : global_->epoch(epoch)) {
    if (batch.size() % static_cast<std::size_t>(world_) != 0)
      throw ConfigError("a global batch of " + std::to_string(batch.size()) + " images (sampler.p x sampler.k) does not "
                        "divide among " + std::to_string(world_) + " processes; choose P x K divisible by the world size");
    const std::size_t share = batch.size() / static_cast<std::size_t>(world_);
    const auto begin = batch.begin() + static_cast<std::ptrdiff_t>(share * static_cast<std::size_t>(rank_));
    shares.emplace_back(begin, begin + static_cast<std::ptrdiff_t>(share));
  }
  return shares;
}

std::string ShardedBatchSampler::describe() const {
  return global_->describe() + ", share " + std::to_string(rank_ + 1) + " of " + std::to_string(world_);
}

std::size_t ShardedBatchSampler::first_slot(std::size_t global_batch_size) const {
  return global_batch_size / static_cast<std::size_t>(world_) * static_cast<std::size_t>(rank_);
}

void add_sampler_options(ConfigSchema& schema) {
  schema.describe_section("sampler", "How training batches are drawn (P identities x K images).");
  schema.add_string("sampler.type", "cross_domain_pk",
                    "pk: K images of any domain per identity; cross_domain_pk: K/2 photos + K/2 cartoons")
      .one_of({"pk", "cross_domain_pk"});
  schema.add_int("sampler.p", 16, "Identities per batch (P)").range(1, 4096);
  schema.add_int("sampler.k", 4, "Images per identity in a batch (K)").range(1, 1024);
}

std::unique_ptr<BatchSampler> make_train_sampler(const Config& config, const Dataset& data, const LabelMap& labels) {
  const int p = static_cast<int>(config.get_int("sampler.p"));
  const int k = static_cast<int>(config.get_int("sampler.k"));
  const std::uint64_t seed = static_cast<std::uint64_t>(config.get_int("run.seed"));
  if (static_cast<int>(labels.names.size()) < p)
    throw ConfigError(config.describe("sampler.p") + ": the training data (" + data.origin() + ") has only " +
                      std::to_string(labels.names.size()) + " identities");
  if (config.get_string("sampler.type") == "pk") return std::make_unique<PKSampler>(labels.record_labels, p, k, seed);
  if (k < 2) throw ConfigError(config.describe("sampler.k") + ": cross_domain_pk needs K >= 2");
  std::vector<Domain> domains;
  for (const auto& r : data.records()) domains.push_back(r.domain);
  return std::make_unique<CrossDomainPKSampler>(labels.record_labels, std::move(domains), p, k, seed);
}

}  // namespace toonreid
