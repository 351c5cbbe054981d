#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "core/error.h"
#include "eval/retrieval_metrics.h"
#include "retrieval/distance.h"
#include "retrieval/rank_adjustment.h"
#include "retrieval/rerank.h"

namespace toonreid {
namespace {

// The dense algorithm as the reference Python code writes it (N x N matrices, argsort of
// every row), with a stable sort so that ties are ordered as in toonreid.
torch::Tensor dense_rerank(const torch::Tensor& q, const torch::Tensor& g, DistanceKind kind, int k1, int k2,
                           double lambda) {
  const int64_t nq = q.size(0), n = nq + g.size(0);
  torch::Tensor all = torch::cat({q, g});
  torch::Tensor d = pairwise_distances(all, all, kind);
  if (kind == DistanceKind::Euclidean) d = d.pow(2);
  torch::Tensor original = (d / std::get<0>(d.max(0)).unsqueeze(0)).t().contiguous();
  std::vector<std::vector<int64_t>> rank(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    auto& r = rank[static_cast<std::size_t>(i)];
    r.resize(static_cast<std::size_t>(n));
    std::iota(r.begin(), r.end(), 0);
    const float* row = original.data_ptr<float>() + i * n;
    std::stable_sort(r.begin(), r.end(), [&](int64_t a, int64_t b) { return row[a] < row[b]; });
  }
  auto reciprocal = [&](int64_t i, int64_t k) {
    std::vector<int64_t> out;
    for (int64_t t = 0; t < k; ++t) {
      int64_t j = rank[static_cast<std::size_t>(i)][static_cast<std::size_t>(t)];
      const auto& back = rank[static_cast<std::size_t>(j)];
      if (std::find(back.begin(), back.begin() + k, i) != back.begin() + k) out.push_back(j);
    }
    return out;
  };
  torch::Tensor v = torch::zeros({n, n});
  const int64_t half = static_cast<int64_t>(std::nearbyint(k1 / 2.0));
  for (int64_t i = 0; i < n; ++i) {
    std::vector<int64_t> r = reciprocal(i, k1 + 1);
    std::set<int64_t> expansion(r.begin(), r.end());
    for (int64_t c : r) {
      std::vector<int64_t> rc = reciprocal(c, half + 1);
      std::size_t common = 0;
      for (int64_t x : rc) common += std::count(r.begin(), r.end(), x);
      if (common > 2.0 / 3 * static_cast<double>(rc.size())) expansion.insert(rc.begin(), rc.end());
    }
    double sum = 0;
    for (int64_t e : expansion) sum += std::exp(-original[i][e].item<double>());
    for (int64_t e : expansion) v[i][e] = std::exp(-original[i][e].item<double>()) / sum;
  }
  if (k2 != 1) {
    torch::Tensor vqe = torch::zeros_like(v);
    for (int64_t i = 0; i < n; ++i) {
      std::vector<int64_t> idx(rank[static_cast<std::size_t>(i)].begin(), rank[static_cast<std::size_t>(i)].begin() + k2);
      vqe[i] = v.index_select(0, torch::tensor(idx)).mean(0);
    }
    v = vqe;
  }
  torch::Tensor out = torch::zeros({nq, n - nq});
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t j = nq; j < n; ++j) {
      const double shared = torch::minimum(v[i], v[j]).sum().item<double>();
      const double jaccard = 1 - shared / (2 - shared);
      out[i][j - nq] = jaccard * (1 - lambda) + original[i][j].item<double>() * lambda;
    }
  return out;
}

TEST(ReRank, MatchesTheDenseReference) {
  torch::manual_seed(5);
  // Clustered features, so that k-reciprocal sets are non-trivial.
  torch::Tensor centres = torch::randn({8, 12});
  torch::Tensor ids = torch::randint(0, 8, {70});
  torch::Tensor all = centres.index_select(0, ids) + 0.6 * torch::randn({70, 12});
  torch::Tensor q = all.narrow(0, 0, 25), g = all.narrow(0, 25, 45);
  struct Case {
    DistanceKind kind;
    int k1, k2;
    double lambda;
  } cases[] = {{DistanceKind::Euclidean, 20, 6, 0.3}, {DistanceKind::Cosine, 7, 1, 0.5},
               {DistanceKind::Euclidean, 5, 3, 0.0}, {DistanceKind::Angular, 9, 4, 1.0}};
  for (const auto& c : cases) {
    torch::Tensor fast = rerank_k_reciprocal(q, g, c.kind, {c.k1, c.k2, c.lambda});
    torch::Tensor ref = dense_rerank(q, g, c.kind, c.k1, c.k2, c.lambda);
    ASSERT_EQ(fast.sizes(), ref.sizes());
    EXPECT_LT((fast - ref).abs().max().item<float>(), 1e-4) << "k1=" << c.k1 << " k2=" << c.k2;
  }
  // Re-ranking changes the order (it is not the identity) yet keeps values in [0, 1].
  torch::Tensor r = rerank_k_reciprocal(q, g, DistanceKind::Euclidean, {});
  EXPECT_GE(r.min().item<float>(), 0.0f);
  EXPECT_LE(r.max().item<float>(), 1.0f + 1e-6f);
  EXPECT_THROW(rerank_k_reciprocal(q, g, DistanceKind::Euclidean, {0, 6, 0.3}), Error);
  EXPECT_THROW(rerank_k_reciprocal(q, g, DistanceKind::Euclidean, {20, 6, 1.5}), Error);
  EXPECT_THROW(rerank_k_reciprocal(q, torch::zeros({3, 5}), DistanceKind::Euclidean, {}), Error);
}

TEST(ReRank, TinySetsWithFewerSamplesThanK) {
  torch::Tensor q = torch::tensor({0.0f, 1.0f}).view({2, 1}), g = torch::tensor({0.1f, 0.9f, 5.0f}).view({3, 1});
  torch::Tensor fast = rerank_k_reciprocal(q, g, DistanceKind::Euclidean, {20, 6, 0.3});
  ASSERT_EQ(fast.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_LT(fast[0][0].item<float>(), fast[0][1].item<float>());
  EXPECT_LT(fast[1][1].item<float>(), fast[1][0].item<float>());
}

// Approximate gallery neighbours (FAISS) against the exact pass: the same mAP within half
// a point on clustered features, and exactly the exact result below the size threshold.
TEST(ReRank, ApproximateGalleryNeighboursStayCloseToExact) {
  torch::manual_seed(9);
  const int64_t ids = 150, nq = 300, ng = 3000;
  const torch::Tensor centres = torch::randn({ids, 32});
  const torch::Tensor ql_t = torch::randint(0, ids, {nq}), gl_t = torch::randint(0, ids, {ng});
  const torch::Tensor q = centres.index_select(0, ql_t) + 0.8 * torch::randn({nq, 32});
  const torch::Tensor g = centres.index_select(0, gl_t) + 0.8 * torch::randn({ng, 32});
  const std::vector<int> ql(ql_t.data_ptr<int64_t>(), ql_t.data_ptr<int64_t>() + nq);
  const std::vector<int> gl(gl_t.data_ptr<int64_t>(), gl_t.data_ptr<int64_t>() + ng);
  for (DistanceKind kind : {DistanceKind::Euclidean, DistanceKind::Cosine}) {
    ReRankOptions exact;
    exact.neighbours.kind = AnnKind::Exact;
    const torch::Tensor reference = rerank_k_reciprocal(q, g, kind, exact);
    const double reference_map = evaluate_retrieval(reference, ql, gl).mAP;
    const double plain_map = evaluate_retrieval(pairwise_distances(q, g, kind), ql, gl).mAP;
    EXPECT_GT(reference_map, plain_map + 0.01);  // re-ranking matters here, so the check means something
    for (AnnKind search : {AnnKind::Ivf, AnnKind::Hnsw}) {
      ReRankOptions o;
      o.neighbours.kind = search;
      o.approximate_above = 0;
      o.neighbours.ivf_lists = 40;
      const torch::Tensor approx = rerank_k_reciprocal(q, g, kind, o);
      const double map = evaluate_retrieval(approx, ql, gl).mAP;
      EXPECT_NEAR(map, reference_map, 0.005) << ann_kind_name(search) << " " << distance_name(kind);
      // Below the threshold the exact pass runs: bit for bit the reference.
      o.approximate_above = nq + ng;
      EXPECT_TRUE(torch::equal(rerank_k_reciprocal(q, g, kind, o), reference)) << ann_kind_name(search);
    }
  }
  // Fewer gallery items than k: the rows the search leaves short are completed exactly.
  ReRankOptions tiny;
  tiny.approximate_above = 0;
  const torch::Tensor small = rerank_k_reciprocal(q.narrow(0, 0, 5), g.narrow(0, 0, 12), DistanceKind::Euclidean, tiny);
  tiny.neighbours.kind = AnnKind::Exact;
  EXPECT_LT((small - rerank_k_reciprocal(q.narrow(0, 0, 5), g.narrow(0, 0, 12), DistanceKind::Euclidean, tiny)).abs().max().item<float>(), 1e-5);
  EXPECT_EQ(parse_ann_kind("hnsw"), AnnKind::Hnsw);
  EXPECT_THROW(parse_ann_kind("lsh"), Error);
}

TEST(RankAdjustment, UncertainQueryBorrowsItsNeighboursTopMatch) {
  // Query 0 is uncertain (best 0.9 > 0.8, at gallery 2); query 1 is 0.5 away from it
  // (< 0.7) and confident (best 0.3 at gallery 1, lower by 0.6 > 0.1): query 0's top
  // match becomes gallery 1. Query 2 is uncertain too but has no neighbour close enough.
  torch::Tensor qg = torch::tensor({1.2f, 1.0f, 0.9f, 0.7f, 0.3f, 0.9f, 1.5f, 1.4f, 0.95f}).view({3, 3});
  torch::Tensor qq = torch::tensor({0.0f, 0.5f, 0.9f, 0.5f, 0.0f, 0.8f, 0.9f, 0.8f, 0.0f}).view({3, 3});
  RankAdjustResult r = adjust_ranks(qg, qq, {0.8, 0.7, 0.1});
  EXPECT_EQ(r.adjusted, 1u);
  EXPECT_EQ(r.distances[0].argmin().item<int64_t>(), 1);
  EXPECT_LT(r.distances[0][1].item<float>(), 0.9f);
  EXPECT_FLOAT_EQ(r.distances[0][2].item<float>(), 0.9f);  // the rest of the row is untouched
  EXPECT_TRUE(torch::equal(r.distances[1], qg[1]));
  EXPECT_TRUE(torch::equal(r.distances[2], qg[2]));
  // The margin is strict: a neighbour only 0.05 better lends nothing.
  EXPECT_EQ(adjust_ranks(qg, qq, {0.8, 0.7, 0.65}).adjusted, 0u);
  // Queries are not uncertain below the threshold; neighbours must be close enough.
  EXPECT_EQ(adjust_ranks(qg, qq, {1.0, 0.7, 0.1}).adjusted, 0u);
  EXPECT_EQ(adjust_ranks(qg, qq, {0.8, 0.4, 0.1}).adjusted, 0u);
  EXPECT_THROW(adjust_ranks(qg, torch::zeros({2, 2}), {}), Error);
}

}  // namespace
}  // namespace toonreid
