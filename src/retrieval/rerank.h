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
//
// Step 2 needs every sample's nearest neighbours. Exactly, that is one pass over the
// N x N distances (O(N^2 D)). Above `approximate_above` samples (or when asked), the
// gallery x gallery part - the N^2 term when galleries are large - comes from an
// approximate search (FAISS): every pair involving a query stays exact, and so does the
// [Q, G] output; the gallery rows' normaliser is their maximum over the queries, the
// gallery neighbours found and a seeded sample of the gallery.
//   hnsw: a FAISS HNSW graph (M, efConstruction, efSearch) over the gallery, searched
//         for every item; above 128 dimensions on a 128-d principal projection (a
//         randomised PCA), with twice the candidates re-scored in full dimension.
//   ivf:  FAISS k-means splits the gallery into `ivf_lists` cells; each item is compared
//         (matrix products, batched by cell) with the members of its `ivf_probe` nearest
//         cells. Faster to build, but on features whose identities overlap its recall
//         drops (bench/scale_retrieval.sh: -1.6 mAP at N = 20,000 where HNSW is within 0.1).
#pragma once

#include <cstdint>
#include <string>

#include <torch/types.h>

#include "retrieval/ann.h"
#include "retrieval/distance.h"

namespace toonreid {

struct ReRankOptions {
  int k1 = 20;
  int k2 = 6;
  double lambda = 0.3;
  // How gallery neighbours are found (retrieval/ann.h; config test.rerank.search): this
  // structure when N = Q + G exceeds `approximate_above`, exactly otherwise. IVF: 0
  // lists means about sqrt(G), and nprobe counts the cells compared with each cell
  // (itself included); HNSW: efSearch is raised to the candidates asked for when lower.
  AnnSpec neighbours = rerank_ann_defaults(AnnKind::Hnsw);
  int64_t approximate_above = 30000;
  std::uint64_t seed = 0;  // k-means initialisation, normaliser sample
};

// Re-ranked [Q, G] distances of query features [Q, D] against gallery features [G, D]:
// rows follow the queries, columns the gallery; smaller is closer. Requires: float32
// features of one dimension D (the kind's convention: unit rows for cosine / angular).
// Exactly (N at most approximate_above, or kind Exact) the result is a function of the
// inputs; FAISS builds the HNSW graph with OpenMP threads, so on that path near-tied
// ranks can differ between runs (74 of 5,847 lists of CaVI test). Uses the intra-op
// thread pool; throws Error on empty inputs or mismatched dimensions.
torch::Tensor rerank_k_reciprocal(const torch::Tensor& query_features, const torch::Tensor& gallery_features,
                                  DistanceKind kind, const ReRankOptions& options = {});

}  // namespace toonreid
