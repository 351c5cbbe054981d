// The retrieval recipe applied after feature extraction, as configured under `test.`:
//   query expansion (features) -> distances, or k-reciprocal re-ranking -> rank adjustment.
#pragma once

#include <cstddef>
#include <string>

#include <torch/types.h>

#include "retrieval/distance.h"
#include "retrieval/query_expansion.h"
#include "retrieval/rank_adjustment.h"
#include "retrieval/rerank.h"

namespace toonreid {

class Config;
class ConfigSchema;

struct RetrievalOptions {
  DistanceKind distance = DistanceKind::Euclidean;
  bool query_expansion = false;
  QueryExpansionOptions expansion;
  bool rerank = false;
  ReRankOptions reranking;
  bool rank_adjust = false;
  RankAdjustOptions adjustment;

  // e.g. "euclidean + query expansion (k=5, alpha=3) + re-ranking (k1=20, k2=6, lambda=0.3)"
  std::string describe() const;
};

// Declares test.distance, test.query_expansion.*, test.rerank.*, test.rank_adjust.*.
void add_retrieval_options(ConfigSchema& schema);
RetrievalOptions retrieval_options(const Config& config);

struct RetrievalDistances {
  torch::Tensor distances;  // [Q, G]
  std::size_t adjusted = 0; // queries whose top match the rank adjustment changed
};

RetrievalDistances retrieval_distances(const torch::Tensor& query_features, const torch::Tensor& gallery_features,
                                       const RetrievalOptions& options);

}  // namespace toonreid
