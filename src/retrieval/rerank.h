// k-reciprocal re-ranking (Zhong, Zheng, Cao, Li: "Re-ranking Person Re-identification
// with k-reciprocal Encoding", CVPR 2017), as in the reference code that ReID baselines
// (BoT, fast-reid) ship, but on sparse neighbour lists:
//
//   1. base distance d(i, j) over all N = Q + G samples (the squared distance for
//      Euclidean, as BoT does; the distance itself for cosine / angular), each row
//      divided by its maximum;
//   2. R(i): the k-reciprocal neighbours of i among its k1 + 1 nearest, expanded by
//      R(c, round(k1 / 2)) of each member c that shares more than 2/3 of its set;
//   3. V(i): weights exp(-d(i, j)) over R(i), normalised; then averaged over i's k2
//      nearest neighbours (local query expansion);
//   4. Jaccard distance between V(q) and V(g) through an inverted index;
//   5. final(q, g) = (1 - lambda) * Jaccard + lambda * d(q, g).
//
// Memory grows as N * k (neighbour lists and sparse V rows) plus the [Q, G] output,
// never N^2. Ties in the neighbour order are broken by sample index (a stable sort).
#pragma once

#include <torch/types.h>

#include "retrieval/distance.h"

namespace toonreid {

struct ReRankOptions {
  int k1 = 20;
  int k2 = 6;
  double lambda = 0.3;
};

// Re-ranked [Q, G] distances of query features [Q, D] against gallery features [G, D].
torch::Tensor rerank_k_reciprocal(const torch::Tensor& query_features, const torch::Tensor& gallery_features,
                                  DistanceKind kind, const ReRankOptions& options = {});

}  // namespace toonreid
