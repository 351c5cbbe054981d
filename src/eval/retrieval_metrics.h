// Retrieval metrics for one query set against one gallery: mAP, CMC (Rank-k) and
// mINP (Ye et al., "Deep Learning for Person Re-identification", 2021), with a
// per-query and per-identity breakdown.
//
// Each query's gallery is ordered by ascending distance, ties broken by gallery index
// (what a stable sort gives). A query without any true match is skipped and counted.
// Queries are evaluated independently and in parallel. No ranking is materialised:
// the rank of each true match is the number of items ordered before it, found by
// binary search among the (few) true matches, O(G log P) per query instead of a full
// O(G log G) sort, and no query x gallery index matrix is ever stored.
//
// Conventions: distances are [Q, G] with smaller meaning closer; labels are one int per
// query row / gallery column. Pure functions, safe from any thread; they throw Error when
// sizes disagree or a distance is NaN.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "retrieval/distance.h"

namespace toonreid {

struct QueryResult {
  int label = 0;
  std::size_t positives = 0;  // true matches in the gallery (0: skipped)
  int64_t first_hit = -1;     // 0-based rank of the first true match
  double ap = 0, inp = 0;
};

struct RetrievalMetrics {
  double mAP = 0;
  double mINP = 0;
  std::vector<double> cmc;  // cmc[k-1]: fraction of queries with a true match in the top k
  std::size_t queries = 0;  // queries evaluated
  std::size_t skipped = 0;  // queries without a true match in the gallery
  std::vector<QueryResult> per_query;

  double rank(std::size_t k) const { return k >= 1 && k <= cmc.size() ? cmc[k - 1] : 0.0; }
};

struct IdentityMetrics {
  int label = 0;
  std::size_t queries = 0;
  double mAP = 0, rank1 = 0;
};
// Mean AP and Rank-1 of each query identity (skipped queries left out), by label.
std::vector<IdentityMetrics> per_identity(const RetrievalMetrics& metrics);

struct RankingOptions {
  std::size_t max_rank = 10;  // CMC length
  // Optional record ids: when both are given, a gallery item with the query's own id is
  // ignored (query and gallery drawn from overlapping sets).
  std::vector<int64_t> query_ids, gallery_ids;
};

// distances: float [Q, G] (any float type; NaN rejected); labels per query / gallery item.
RetrievalMetrics evaluate_retrieval(const at::Tensor& distances, const std::vector<int>& query_labels,
                                    const std::vector<int>& gallery_labels, const RankingOptions& options = {});

// The same metrics straight from features, ranked a block of queries at a time: memory
// O(block x G), for galleries whose full matrix would not fit. Rows are ranked by a key
// in the distance's order (|g|^2 - 2 q.g for Euclidean, -cos otherwise), one matrix
// product per block; results equal the matrix version's up to float rounding in ties.
RetrievalMetrics evaluate_retrieval(const at::Tensor& query_features, const at::Tensor& gallery_features,
                                    DistanceKind kind, const std::vector<int>& query_labels,
                                    const std::vector<int>& gallery_labels, const RankingOptions& options = {});

}  // namespace toonreid
