// Retrieval metrics for one query set against one gallery: mAP, CMC (Rank-k) and
// mINP (Ye et al., "Deep Learning for Person Re-identification", 2021).
//
// Each query's gallery is ranked by ascending distance (ties broken by gallery order).
// A query without any true match in the gallery is skipped and counted.
#pragma once

#include <cstddef>
#include <vector>

#include <ATen/core/Tensor.h>

namespace toonreid {

struct RetrievalMetrics {
  double mAP = 0;
  double mINP = 0;
  std::vector<double> cmc;  // cmc[k-1]: fraction of queries with a true match in the top k
  std::size_t queries = 0;  // queries evaluated
  std::size_t skipped = 0;  // queries without a true match in the gallery

  double rank(std::size_t k) const { return k >= 1 && k <= cmc.size() ? cmc[k - 1] : 0.0; }
};

// distances: float [Q, G]; labels: one identity label per query / gallery item.
RetrievalMetrics evaluate_retrieval(const at::Tensor& distances, const std::vector<int>& query_labels,
                                    const std::vector<int>& gallery_labels, std::size_t max_rank = 10);

}  // namespace toonreid
