#include <gtest/gtest.h>

#include <torch/utils.h>

#include "core/error.h"
#include "eval/cross_domain.h"
#include "eval/retrieval_metrics.h"

#include <algorithm>
#include <numeric>

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
  RetrievalMetrics m = evaluate_retrieval(d, {1, 2, 9}, {1, 0, 3}, RankingOptions{3, {}, {}});
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

// The straightforward definition: a full stable sort per query.
RetrievalMetrics reference_metrics(const torch::Tensor& distances, const std::vector<int>& ql, const std::vector<int>& gl,
                                   std::size_t max_rank) {
  const std::size_t ng = gl.size();
  RetrievalMetrics m;
  m.cmc.assign(max_rank, 0.0);
  for (std::size_t q = 0; q < ql.size(); ++q) {
    std::vector<float> row(ng);
    for (std::size_t j = 0; j < ng; ++j) row[j] = distances[static_cast<long>(q)][static_cast<long>(j)].item<float>();
    std::vector<std::size_t> order(ng);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return row[a] < row[b]; });
    std::size_t hits = 0, first = 0, last = 0;
    double precision = 0;
    for (std::size_t r = 0; r < ng; ++r) {
      if (gl[order[r]] != ql[q]) continue;
      if (++hits == 1) first = r;
      last = r;
      precision += static_cast<double>(hits) / static_cast<double>(r + 1);
    }
    if (hits == 0) {
      ++m.skipped;
      continue;
    }
    ++m.queries;
    m.mAP += precision / static_cast<double>(hits);
    m.mINP += static_cast<double>(hits) / static_cast<double>(last + 1);
    for (std::size_t k = first; k < max_rank; ++k) m.cmc[k] += 1;
  }
  m.mAP /= static_cast<double>(m.queries);
  m.mINP /= static_cast<double>(m.queries);
  for (auto& c : m.cmc) c /= static_cast<double>(m.queries);
  return m;
}

TEST(RetrievalMetrics, MatchesFullSortReferenceWithManyTies) {
  torch::manual_seed(3);
  // Distances quantised to 8 levels: most items tie with a true match.
  torch::Tensor d = torch::randint(0, 8, {60, 300}).to(torch::kFloat) / 8;
  std::vector<int> ql(60), gl(300);
  for (std::size_t i = 0; i < ql.size(); ++i) ql[i] = static_cast<int>(i % 23);  // labels 20-22: no match
  for (std::size_t j = 0; j < gl.size(); ++j) gl[j] = static_cast<int>((j * 7) % 20);
  RetrievalMetrics fast = evaluate_retrieval(d, ql, gl, RankingOptions{20, {}, {}});
  RetrievalMetrics ref = reference_metrics(d, ql, gl, 20);
  EXPECT_EQ(fast.queries, ref.queries);
  EXPECT_EQ(fast.skipped, ref.skipped);
  EXPECT_GT(fast.skipped, 0u);
  EXPECT_NEAR(fast.mAP, ref.mAP, 1e-9);
  EXPECT_NEAR(fast.mINP, ref.mINP, 1e-9);
  for (std::size_t k = 0; k < 20; ++k) EXPECT_NEAR(fast.cmc[k], ref.cmc[k], 1e-12) << "rank " << k + 1;
  ASSERT_EQ(fast.per_query.size(), 60u);
}

TEST(RetrievalMetrics, StreamingFromFeaturesEqualsMatrix) {
  torch::manual_seed(4);
  torch::Tensor q = torch::randn({50, 16}), g = torch::randn({400, 16});
  std::vector<int> ql(50), gl(400);
  for (std::size_t i = 0; i < ql.size(); ++i) ql[i] = static_cast<int>(i % 10);
  for (std::size_t j = 0; j < gl.size(); ++j) gl[j] = static_cast<int>(j % 10);
  for (DistanceKind kind : {DistanceKind::Euclidean, DistanceKind::Cosine, DistanceKind::Angular}) {
    RetrievalMetrics a = evaluate_retrieval(q, g, kind, ql, gl);
    RetrievalMetrics b = evaluate_retrieval(pairwise_distances(q, g, kind), ql, gl);
    EXPECT_NEAR(a.mAP, b.mAP, 1e-12);
    EXPECT_NEAR(a.mINP, b.mINP, 1e-12);
  }
}

TEST(RetrievalMetrics, SelfMatchesAreIgnoredAndIdentitiesBrokenDown) {
  // Query and gallery are the same three records; without exclusion each query finds
  // itself first: APs (1 + 2/3) / 2, (1 + 2/3) / 2 and 1.
  torch::Tensor d = torch::tensor({0.0f, 0.5f, 0.2f, 0.5f, 0.0f, 0.3f, 0.2f, 0.3f, 0.0f}).view({3, 3});
  std::vector<int> labels{1, 1, 2};
  EXPECT_NEAR(evaluate_retrieval(d, labels, labels).mAP, (5.0 / 6 + 5.0 / 6 + 1) / 3, 1e-12);
  RetrievalMetrics m = evaluate_retrieval(d, labels, labels, RankingOptions{10, {0, 1, 2}, {0, 1, 2}});
  // Query 0: record 2 (0.2) then its match 1 (0.5): AP 1/2. Query 1: match 0 (0.5) after 2 (0.3): 1/2.
  // Query 2: no other record of identity 2: skipped.
  EXPECT_EQ(m.queries, 2u);
  EXPECT_EQ(m.skipped, 1u);
  EXPECT_NEAR(m.mAP, 0.5, 1e-12);
  auto ids = per_identity(m);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0].label, 1);
  EXPECT_EQ(ids[0].queries, 2u);
  EXPECT_NEAR(ids[0].rank1, 0.0, 1e-12);
  EXPECT_THROW(evaluate_retrieval(d, labels, labels, RankingOptions{10, {0, 1}, {0, 1, 2}}), Error);
  d[0][1] = std::nanf("");
  EXPECT_THROW(evaluate_retrieval(d, labels, labels), Error);
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
  EXPECT_NE(format_markdown(r).find("| C2P | 100.00 |"), std::string::npos);
  // Swap the cartoons: everything is ranked wrong first.
  torch::Tensor g = torch::tensor({0.0f, 0.9f, 1.0f, 0.1f}).view({4, 1});
  EXPECT_NEAR(evaluate_cross_domain(g, data, DistanceKind::Euclidean).c2p.rank(1), 0.0, 1e-12);
  EXPECT_THROW(evaluate_cross_domain(torch::zeros({3, 1}), data, DistanceKind::Euclidean), Error);
}

}  // namespace
}  // namespace toonreid
