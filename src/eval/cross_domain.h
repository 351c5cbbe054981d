// Cross-domain evaluation: caricature queries against the photo gallery (C2P) and photo
// queries against the caricature gallery (P2C), from features of one split.
#pragma once

#include <string>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "data/dataset.h"
#include "eval/retrieval_metrics.h"

namespace toonreid {

enum class DistanceKind { Euclidean, Cosine };
DistanceKind parse_distance(const std::string& name);

// [Q, G] distances between feature rows.
torch::Tensor pairwise_distances(const torch::Tensor& queries, const torch::Tensor& gallery, DistanceKind kind);

struct CrossDomainReport {
  RetrievalMetrics c2p;
  RetrievalMetrics p2c;
};

// features: [N, D], row i for data[i].
CrossDomainReport evaluate_cross_domain(const torch::Tensor& features, const Dataset& data, DistanceKind kind);

// {"C2P": {"mAP", "rank1", "rank5", "rank10", "mINP", "queries", "skipped"}, "P2C": {...}}
nlohmann::json to_json(const CrossDomainReport& report);
// A small aligned table, percentages.
std::string format_table(const CrossDomainReport& report);

}  // namespace toonreid
