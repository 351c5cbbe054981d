// Identity Mining (IM) of the BDCI cartoon-face solution: pseudo-labels for part of the
// unlabelled test data.
//
//   Stage 1 (anchors): start from one query (seeded choice); repeatedly add the query
//   whose minimum distance to the anchors exceeds d_n and whose summed distance to them
//   is largest; stop when no query qualifies. Each anchor is a new identity.
//   Stage 2 (labels): every sample of queries and gallery within d_p of some anchor gets
//   the identity of its nearest anchor; the others stay unlabelled.
//   Stage 3 (growth, optional: grow_k > 0): for features that are not tight clusters,
//   d_p covers little of an identity. An unlabelled sample then takes the label of its
//   nearest labelled neighbour among its grow_k nearest samples when that neighbour has
//   it among its own grow_k nearest too (mutual neighbours), for grow_rounds rounds.
//
// Stage 1 is incremental: each query keeps its running minimum and sum of distances to
// the anchors, so adding an anchor costs one row of distances, O(|Q| * D); the whole
// stage is O(|Q| * |L| * D), not a recomputation per step.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "retrieval/distance.h"

namespace toonreid {

class Config;
class ConfigSchema;

struct IdentityMiningOptions {
  double d_n = 0.49;  // anchors are at least this far from each other
  double d_p = 0.23;  // samples this close to an anchor take its identity
  DistanceKind distance = DistanceKind::Euclidean;  // the thresholds assume one kind: say which
  std::uint64_t seed = 0;                           // picks the first anchor
  int64_t first_anchor = -1;                        // or this query, when >= 0
  int grow_k = 0;       // stage 3: mutual-neighbour growth over this many neighbours (0: off)
  int grow_rounds = 3;  // stage 3: rounds at most (each may label the next ring)
};

// Declares mining.* (method, thresholds, distance, k of k-means, ...).
void add_mining_options(ConfigSchema& schema);
IdentityMiningOptions identity_mining_options(const Config& config);

struct MiningResult {
  std::vector<int64_t> anchors;  // query indices, in the order chosen
  std::vector<int> labels;       // per sample (queries first, then gallery): pseudo identity or -1
  std::size_t labelled() const;
};

// queries [Q, D], gallery [G, D]; features are L2-normalised here before measuring.
// Stage 3's neighbour lists are computed blockwise: O((Q + G) * grow_k) memory.
MiningResult mine_identities(const torch::Tensor& queries, const torch::Tensor& gallery,
                             const IdentityMiningOptions& options);

// Stage 3 alone: `samples` [N, D] L2-normalised, `labels` per sample (-1: unlabelled),
// updated in place.
void grow_by_mutual_neighbours(const torch::Tensor& samples, const IdentityMiningOptions& options,
                               std::vector<int>& labels);

// The distribution of query-to-query and query-to-gallery distances (percentiles), to
// choose d_n and d_p on one's own data; a few text lines.
std::string describe_distances(const torch::Tensor& queries, const torch::Tensor& gallery, DistanceKind kind,
                               std::size_t max_samples = 2000, std::uint64_t seed = 0);

}  // namespace toonreid
