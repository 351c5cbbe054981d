#include <gtest/gtest.h>

#include <torch/utils.h>

#include "core/error.h"
#include "eval/cross_domain.h"
#include "eval/retrieval_metrics.h"

namespace toonreid {
namespace {

TEST(RetrievalMetrics, HandComputedRanking) {
  // One query of identity 7; the gallery ranks (by distance): 7, 3, 7, 3, 7.
  torch::Tensor d = torch::tensor({0.1f, 0.2f, 0.3f, 0.4f, 0.5f}).view({1, 5});
  RetrievalMetrics m = evaluate_retrieval(d, {7}, {7, 3, 7, 3, 7});
  // AP = (1/1 + 2/3 + 3/5) / 3; INP = 3 / 5 (hardest positive at rank 5).
  EXPECT_NEAR(m.mAP, (1.0 + 2.0 / 3 + 3.0 / 5) / 3, 1e-9);
  EXPECT_NEAR(m.mINP, 3.0 / 5, 1e-9);
  EXPECT_EQ(m.rank(1), 1.0);
  EXPECT_EQ(m.queries, 1u);
}

TEST(RetrievalMetrics, CmcAveragesAndQueriesWithoutPositivesAreSkipped) {
  // Gallery labels {1, 0, 3}. Query 0 (identity 1) ranks the gallery 1, 2, 0 by distance,
  // so its only match (gallery item 0) comes 3rd. Queries 1 and 2 (identities 2 and 9)
  // have no match in the gallery: skipped and counted.
  torch::Tensor d = torch::tensor({0.9f, 0.1f, 0.5f, 0.2f, 0.3f, 0.1f, 0.1f, 0.2f, 0.3f}).view({3, 3});
  RetrievalMetrics m = evaluate_retrieval(d, {1, 2, 9}, {1, 0, 3}, 3);
  EXPECT_EQ(m.queries, 1u);
  EXPECT_EQ(m.skipped, 2u);
  EXPECT_NEAR(m.rank(1), 0.0, 1e-12);
  EXPECT_NEAR(m.rank(3), 1.0, 1e-12);
  EXPECT_NEAR(m.mAP, 1.0 / 3, 1e-9);
}

TEST(RetrievalMetrics, TiesKeepGalleryOrder) {
  torch::Tensor d = torch::zeros({1, 3});
  RetrievalMetrics m = evaluate_retrieval(d, {5}, {4, 5, 4});
  EXPECT_NEAR(m.mAP, 0.5, 1e-12);  // the positive sits at rank 2
  EXPECT_THROW(evaluate_retrieval(d, {5, 6}, {4, 5, 4}), Error);
}

TEST(CrossDomain, EvaluatesBothDirections) {
  // Two identities; photos and cartoons at 1-D positions: each cartoon nearest its own photo.
  Dataset data({{"p1", "A", Domain::Photo, "test"}, {"c1", "A", Domain::Cartoon, "test"},
                {"p2", "B", Domain::Photo, "test"}, {"c2", "B", Domain::Cartoon, "test"}});
  torch::Tensor f = torch::tensor({0.0f, 0.1f, 1.0f, 0.8f}).view({4, 1});
  CrossDomainReport r = evaluate_cross_domain(f, data, DistanceKind::Euclidean);
  EXPECT_EQ(r.c2p.queries, 2u);
  EXPECT_EQ(r.p2c.queries, 2u);
  EXPECT_NEAR(r.c2p.mAP, 1.0, 1e-9);
  EXPECT_NEAR(r.p2c.mAP, 1.0, 1e-9);
  auto j = to_json(r);
  EXPECT_NEAR(j["C2P"]["rank1"].get<double>(), 1.0, 1e-12);
  EXPECT_TRUE(j["P2C"].contains("mINP"));
  EXPECT_NE(format_table(r).find("C2P"), std::string::npos);
  // Swap the cartoons: everything is ranked wrong first.
  torch::Tensor g = torch::tensor({0.0f, 0.9f, 1.0f, 0.1f}).view({4, 1});
  EXPECT_NEAR(evaluate_cross_domain(g, data, DistanceKind::Euclidean).c2p.rank(1), 0.0, 1e-12);
  EXPECT_THROW(evaluate_cross_domain(torch::zeros({3, 1}), data, DistanceKind::Euclidean), Error);
}

TEST(CrossDomain, CosineAndEuclideanDistances) {
  torch::Tensor q = torch::tensor({3.0f, 4.0f}).view({1, 2}), g = torch::tensor({6.0f, 8.0f, 0.0f, 1.0f}).view({2, 2});
  torch::Tensor e = pairwise_distances(q, g, DistanceKind::Euclidean), c = pairwise_distances(q, g, DistanceKind::Cosine);
  EXPECT_NEAR(e[0][0].item<float>(), 5.0, 1e-4);
  EXPECT_NEAR(c[0][0].item<float>(), 0.0, 1e-6);
  EXPECT_NEAR(c[0][1].item<float>(), 1 - 0.8, 1e-6);
  EXPECT_THROW(parse_distance("manhattan"), Error);
}

}  // namespace
}  // namespace toonreid
