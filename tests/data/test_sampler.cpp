#include "data/sampler.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/config.h"
#include "core/error.h"
#include "core/runtime.h"

namespace toonreid {
namespace {

// Identity l has 2 + (l % 5) photos and 1 + (l % 3) cartoons; identity 0 has photos only.
struct Toy {
  std::vector<int> labels;
  std::vector<Domain> domains;
};
Toy make_toy(int identities) {
  Toy t;
  for (int l = 0; l < identities; ++l) {
    for (int i = 0; i < 2 + l % 5; ++i) t.labels.push_back(l), t.domains.push_back(Domain::Photo);
    if (l == 0) continue;
    for (int i = 0; i < 1 + l % 3; ++i) t.labels.push_back(l), t.domains.push_back(Domain::Cartoon);
  }
  return t;
}

void expect_pk_batches(const std::vector<BatchIndices>& batches, const std::vector<int>& labels, int p, int k) {
  ASSERT_FALSE(batches.empty());
  for (const auto& b : batches) {
    ASSERT_EQ(b.size(), static_cast<std::size_t>(p * k));
    std::map<int, int> per_label;
    for (std::size_t i : b) ++per_label[labels.at(i)];
    EXPECT_EQ(per_label.size(), static_cast<std::size_t>(p));
    for (const auto& [l, n] : per_label) EXPECT_EQ(n, k) << "identity " << l;
    // Each identity's K images are contiguous in the batch (triplet code relies on labels, not order, but
    // contiguity keeps batches readable).
    for (int g = 0; g < p; ++g)
      for (int j = 1; j < k; ++j) EXPECT_EQ(labels[b[g * k + j]], labels[b[g * k]]);
  }
}

TEST(PKSampler, BatchesHavePDistinctIdentitiesWithKImagesEach) {
  Toy t = make_toy(12);
  PKSampler s(t.labels, 4, 3, 7);
  auto batches = s.epoch(0);
  expect_pk_batches(batches, t.labels, 4, 3);
  // An epoch visits nearly every image: at most the groups that could not fill a last batch are left.
  std::set<std::size_t> seen;
  for (const auto& b : batches) seen.insert(b.begin(), b.end());
  EXPECT_GE(seen.size(), t.labels.size() * 7 / 10);
}

TEST(PKSampler, DeterministicPerSeedAndEpoch) {
  Toy t = make_toy(10);
  PKSampler a(t.labels, 4, 2, 1), b(t.labels, 4, 2, 1), c(t.labels, 4, 2, 2);
  EXPECT_EQ(a.epoch(3), b.epoch(3));
  EXPECT_NE(a.epoch(3), a.epoch(4));
  EXPECT_NE(a.epoch(3), c.epoch(3));
}

TEST(PKSampler, IdentitiesWithFewerThanKImagesAreSampledWithReplacement) {
  std::vector<int> labels = {0, 1, 1, 1, 1, 2, 2, 2};
  PKSampler s(labels, 3, 4, 0);
  auto batches = s.epoch(0);
  expect_pk_batches(batches, labels, 3, 4);
  int zeros = 0;
  for (std::size_t i : batches[0]) zeros += i == 0;
  EXPECT_EQ(zeros, 4);  // identity 0's single image, four times
}

TEST(PKSampler, TooFewIdentitiesIsAnError) {
  EXPECT_THROW(PKSampler({0, 0, 1, 1}, 3, 2, 0), DataError);
}

TEST(CrossDomainPKSampler, IdentitiesWithBothDomainsGetHalfPhotosHalfCartoons) {
  Toy t = make_toy(16);
  CrossDomainPKSampler s(t.labels, t.domains, 4, 4, 3);
  auto batches = s.epoch(0);
  expect_pk_batches(batches, t.labels, 4, 4);
  std::set<std::size_t> seen;
  for (const auto& b : batches) {
    std::map<int, std::pair<int, int>> counts;  // label -> photos, cartoons
    for (std::size_t i : b) {
      seen.insert(i);
      auto& c = counts[t.labels[i]];
      (t.domains[i] == Domain::Photo ? c.first : c.second)++;
    }
    for (const auto& [label, c] : counts) {
      if (label == 0) {  // photos only
        EXPECT_EQ(c.first, 4);
        EXPECT_EQ(c.second, 0);
      } else {
        EXPECT_EQ(c.first, 2) << "identity " << label;
        EXPECT_EQ(c.second, 2) << "identity " << label;
      }
    }
  }
  // The smaller domain is repeated, never dropped: apart from the few groups that
  // cannot fill a last batch, every cartoon is used.
  std::size_t cartoons = 0, used = 0;
  for (std::size_t i = 0; i < t.labels.size(); ++i)
    if (t.domains[i] == Domain::Cartoon) ++cartoons, used += seen.count(i);
  EXPECT_GE(used * 10, cartoons * 8) << used << " of " << cartoons;
}

TEST(CrossDomainPKSampler, OddKGivesTheExtraSlotToAPhoto) {
  Toy t = make_toy(8);
  CrossDomainPKSampler s(t.labels, t.domains, 2, 3, 0);
  for (const auto& b : s.epoch(1)) {
    std::map<int, int> photos;
    for (std::size_t i : b)
      if (t.domains[i] == Domain::Photo) ++photos[t.labels[i]];
    for (const auto& [label, n] : photos)
      if (label != 0) {
        EXPECT_EQ(n, 2);
      }
  }
  EXPECT_THROW(CrossDomainPKSampler(t.labels, t.domains, 2, 1, 0), DataError);
}

TEST(SequentialSampler, CoversEveryIndexOnceInOrder) {
  SequentialSampler s(10, 4);
  auto batches = s.epoch(0);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[2], (BatchIndices{8, 9}));
}

TEST(Sampler, BuiltFromConfig) {
  ConfigSchema schema;
  add_run_options(schema);
  add_sampler_options(schema);
  Dataset d({{"a", "A", Domain::Photo, "train"}, {"b", "A", Domain::Cartoon, "train"},
             {"c", "B", Domain::Photo, "train"}, {"d", "B", Domain::Cartoon, "train"}});
  LabelMap labels = make_labels(d);
  Config c = make_config(schema, {"sampler.p=2", "sampler.k=2"});
  auto s = make_train_sampler(c, d, labels);
  EXPECT_NE(s->describe().find("CrossDomain"), std::string::npos);
  EXPECT_EQ(s->epoch(0).size(), 1u);
  Config pk = make_config(schema, {"sampler.type=pk", "sampler.p=2", "sampler.k=2"});
  EXPECT_EQ(make_train_sampler(pk, d, labels)->describe().rfind("PKSampler", 0), 0u);
  Config too_many = make_config(schema, {"sampler.p=3"});
  try {
    make_train_sampler(too_many, d, labels);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("sampler.p"), std::string::npos);
  }
}

TEST(ShardedBatchSampler, RanksTogetherSeeExactlyTheGlobalBatchesAsWholeIdentities) {
  Toy t = make_toy(20);
  const auto global = CrossDomainPKSampler(t.labels, t.domains, 4, 4, 9).epoch(2);
  std::vector<std::vector<BatchIndices>> shares;
  for (int r = 0; r < 2; ++r)
    shares.push_back(ShardedBatchSampler(std::make_unique<CrossDomainPKSampler>(t.labels, t.domains, 4, 4, 9), r, 2)
                         .epoch(2));
  ASSERT_EQ(shares[0].size(), global.size());
  for (std::size_t b = 0; b < global.size(); ++b) {
    BatchIndices joined = shares[0][b];
    joined.insert(joined.end(), shares[1][b].begin(), shares[1][b].end());
    EXPECT_EQ(joined, global[b]) << "batch " << b;
  }
  expect_pk_batches(shares[1], t.labels, 2, 4);  // P/N whole identities per rank
  ShardedBatchSampler second(std::make_unique<PKSampler>(t.labels, 4, 4, 9), 1, 2);
  EXPECT_EQ(second.first_slot(16), 8u);
  // A batch that does not divide among the ranks is refused by name.
  ShardedBatchSampler thirds(std::make_unique<PKSampler>(t.labels, 4, 4, 9), 0, 3);
  EXPECT_THROW(thirds.epoch(0), ConfigError);
}

}  // namespace
}  // namespace toonreid
