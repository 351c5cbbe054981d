#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/error.h"
#include "mining/identity_mining.h"
#include "mining/kmeans.h"
#include "mining/pseudo_labels.h"

namespace toonreid {
namespace {

// Points on the unit circle at the given angles (degrees): IM normalises features, so
// 2-D directions are what it sees; the chord between angles a and b is 2 sin(|a - b| / 2).
torch::Tensor circle(const std::vector<double>& degrees) {
  torch::Tensor t = torch::empty({static_cast<int64_t>(degrees.size()), 2});
  for (std::size_t i = 0; i < degrees.size(); ++i) {
    const double r = degrees[i] * M_PI / 180;
    t[static_cast<int64_t>(i)][0] = std::cos(r);
    t[static_cast<int64_t>(i)][1] = std::sin(r);
  }
  return t;
}

TEST(IdentityMining, HandBuiltAnchorsAndLabels) {
  // Queries: 0 deg, 3 deg, 90 deg, 180 deg, 183 deg. From query 0: the queries farther than
  // d_n = 0.49 are 2, 3, 4; the largest summed distance is query 3 (chord 2.0). Then query 2
  // (min chord 1.414 > 0.49, sum 2.83); then none qualifies (1 and 4 are 0.052 from an anchor).
  torch::Tensor q = circle({0, 3, 90, 180, 183});
  torch::Tensor g = circle({1, 92, 135, 181});  // 135 deg: 0.77 from the nearest anchor
  IdentityMiningOptions o;
  o.first_anchor = 0;
  MiningResult r = mine_identities(q, g, o);
  EXPECT_EQ(r.anchors, (std::vector<int64_t>{0, 3, 2}));
  // Labels: anchor order (0 -> query 0, 1 -> query 3, 2 -> query 2); gallery 135 deg stays out.
  EXPECT_EQ(r.labels, (std::vector<int>{0, 0, 2, 1, 1, 0, 2, -1, 1}));
  EXPECT_EQ(r.labelled(), 8u);
  // Scaling the features changes nothing (they are normalised).
  EXPECT_EQ(mine_identities(q * 7, g * 0.1, o).labels, r.labels);
  // Seeded start: a valid anchor set whatever the first query.
  o.first_anchor = -1;
  o.seed = 11;
  MiningResult s = mine_identities(q, g, o);
  EXPECT_EQ(s.anchors.size(), 3u);
}

TEST(IdentityMining, ThresholdEdgeCases) {
  torch::Tensor q = circle({0, 3, 90, 180, 183}), g = circle({1, 92});
  IdentityMiningOptions o;
  o.first_anchor = 1;
  o.d_n = 2.5;  // farther than any chord: a single identity
  o.d_p = 0.0;  // nothing is closer than 0 (strict): nothing mined, not even the anchor itself
  MiningResult none = mine_identities(q, g, o);
  EXPECT_EQ(none.anchors, (std::vector<int64_t>{1}));
  EXPECT_EQ(none.labelled(), 0u);
  o.d_p = 2.5;  // everything is mined, into the one identity
  MiningResult all = mine_identities(q, g, o);
  EXPECT_EQ(all.labelled(), 7u);
  EXPECT_EQ(std::set<int>(all.labels.begin(), all.labels.end()), std::set<int>{0});
  o.d_n = 0.0;  // every query its own identity (distinct points)
  o.d_p = 0.01;
  MiningResult each = mine_identities(q, torch::zeros({0, 2}), o);
  EXPECT_EQ(each.anchors.size(), 5u);
  EXPECT_EQ(each.labelled(), 5u);
  o.first_anchor = 9;
  EXPECT_THROW(mine_identities(q, g, o), Error);
  EXPECT_THROW(mine_identities(q, torch::zeros({2, 3}), IdentityMiningOptions{}), Error);
}

TEST(IdentityMining, ManyQueriesAreFast) {
  // 20,000 queries: stage 1 must be incremental (this finishes in about a second).
  torch::manual_seed(0);
  torch::Tensor centres = torch::randn({300, 64});
  torch::Tensor ids = torch::randint(0, 300, {20000});
  torch::Tensor q = centres.index_select(0, ids) + 0.05 * torch::randn({20000, 64});
  IdentityMiningOptions o;
  o.d_n = 0.6;
  o.d_p = 0.3;
  MiningResult r = mine_identities(q, torch::zeros({0, 64}), o);
  EXPECT_GE(r.anchors.size(), 280u);
  EXPECT_LE(r.anchors.size(), 300u);
  std::vector<int> truth(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + 20000);
  PseudoLabelQuality quality = pseudo_label_quality(r.labels, truth);
  EXPECT_GT(quality.precision, 0.99);
  EXPECT_GT(quality.recall, 0.9);
}

TEST(KMeans, SeparableClusters) {
  torch::manual_seed(1);
  torch::Tensor x = torch::cat({circle({0, 2, 4, 1}), circle({120, 121, 119}), circle({240, 241, 242, 238})});
  KMeansResult r = kmeans(x, {3, 50, 4});
  std::vector<int> truth{0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2};
  PseudoLabelQuality q = pseudo_label_quality(r.labels, truth);
  EXPECT_DOUBLE_EQ(q.precision, 1.0);
  EXPECT_DOUBLE_EQ(q.recall, 1.0);
  EXPECT_EQ(q.identities_found, 3u);
  EXPECT_LT(r.inertia, 0.01);
  EXPECT_EQ(r.centroids.size(0), 3);
  EXPECT_THROW(kmeans(x, {12, 10, 0}), Error);
  EXPECT_THROW(kmeans(torch::zeros({0, 2}), {1, 10, 0}), Error);
  // Duplicates: k = n still works (k-means++ falls back to unchosen samples).
  KMeansResult dup = kmeans(torch::ones({3, 2}), {3, 5, 0});
  EXPECT_EQ(dup.labels.size(), 3u);
}

TEST(PseudoLabels, HandComputedQuality) {
  // Truth: A A A B B. Pseudo: 0 0 1 1 -1.
  // Pairs sharing a pseudo label: (0,1) same person, (2,3) not: precision 1/2.
  // Same-person pairs: AA x3, BB x1 = 4; shared pseudo among them: (0,1): recall 1/4.
  PseudoLabelQuality q = pseudo_label_quality({0, 0, 1, 1, -1}, {7, 7, 7, 8, 8});
  EXPECT_EQ(q.labelled, 4u);
  EXPECT_EQ(q.pseudo_identities, 2u);
  EXPECT_DOUBLE_EQ(q.precision, 0.5);
  EXPECT_DOUBLE_EQ(q.recall, 0.25);
  EXPECT_EQ(q.identities_found, 1u);  // pseudo 1 is a tie (A, B): the first counted, A again
  EXPECT_THROW(pseudo_label_quality({0}, {1, 2}), Error);
  std::vector<ImageRecord> records{{"a.jpg", "A", Domain::Photo, "test"}, {"b.jpg", "B", Domain::Cartoon, "test"}};
  Dataset d = pseudo_labelled_dataset(records, {-1, 4});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].identity, "mined_00004");
  EXPECT_EQ(d[0].split, "train");
  EXPECT_EQ(d[0].domain, Domain::Cartoon);
}

}  // namespace
}  // namespace toonreid
