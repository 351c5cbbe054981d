// Identity Mining's stage 3: mutual-nearest-neighbour growth carries labels along a
// stretched-out identity that d_p alone covers only near its anchor, and not across to
// another identity.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

#include "mining/identity_mining.h"

namespace toonreid {
namespace {

// Unit vectors at the given angles (radians).
torch::Tensor at_angles(const std::vector<double>& angles) {
  torch::Tensor x = torch::empty({static_cast<int64_t>(angles.size()), 2});
  for (std::size_t i = 0; i < angles.size(); ++i) {
    x[static_cast<int64_t>(i)][0] = std::cos(angles[i]);
    x[static_cast<int64_t>(i)][1] = std::sin(angles[i]);
  }
  return x;
}

TEST(IdentityMiningGrowth, MutualNeighboursExtendAChainButNotAcrossIdentities) {
  // Queries: one sample of each identity; gallery: two chains, A from 0 rad and B from 2 rad.
  const torch::Tensor queries = at_angles({0.0, 2.0});
  const torch::Tensor gallery = at_angles({0.1, 0.2, 0.3, 0.4, 2.1, 2.2, 2.3});
  IdentityMiningOptions o;
  o.d_n = 1.0;    // the two queries are ~1.68 apart: both become anchors
  o.d_p = 0.15;   // only each anchor's first neighbour (0.1 rad ~ 0.1 apart)
  o.first_anchor = 0;
  const MiningResult plain = mine_identities(queries, gallery, o);
  ASSERT_EQ(plain.anchors.size(), 2u);
  EXPECT_EQ(plain.labelled(), 4u);  // 2 anchors + 2 first neighbours
  EXPECT_EQ(plain.labels[2 + 1], -1);  // 0.2 rad: beyond d_p

  o.grow_k = 2;
  o.grow_rounds = 10;
  const MiningResult grown = mine_identities(queries, gallery, o);
  EXPECT_EQ(grown.labelled(), 9u);  // every sample
  const int a = grown.labels[0], b = grown.labels[1];
  EXPECT_NE(a, b);
  for (int i = 2; i <= 5; ++i) EXPECT_EQ(grown.labels[static_cast<std::size_t>(i)], a) << i;
  for (int i = 6; i <= 8; ++i) EXPECT_EQ(grown.labels[static_cast<std::size_t>(i)], b) << i;

  // One round reaches one ring further only.
  o.grow_rounds = 1;
  EXPECT_EQ(mine_identities(queries, gallery, o).labelled(), 6u);
}

TEST(IdentityMiningGrowth, AnOutlierWhoseNeighboursDoNotReciprocateStaysUnlabelled) {
  // Three tight points labelled 0 and an outlier: the outlier's nearest is labelled,
  // but with k = 2 the tight points have each other as nearest: no mutual link.
  const torch::Tensor x = at_angles({0.0, 0.01, 0.02, 1.0});
  std::vector<int> labels = {0, 0, 0, -1};
  IdentityMiningOptions o;
  o.grow_k = 2;
  grow_by_mutual_neighbours(x, o, labels);
  EXPECT_EQ(labels[3], -1);
  o.grow_k = 3;  // now every point has the outlier among its 3 nearest
  grow_by_mutual_neighbours(x, o, labels);
  EXPECT_EQ(labels[3], 0);
}

}  // namespace
}  // namespace toonreid
