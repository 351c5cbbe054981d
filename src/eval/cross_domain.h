// Cross-domain evaluation: caricature queries against the photo gallery (C2P) and photo
// queries against the caricature gallery (P2C), from features of one split.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "data/dataset.h"
#include "eval/retrieval_metrics.h"
#include "retrieval/postprocess.h"

namespace toonreid {

// One query set ranked against one gallery, both subsets of a split's records.
struct RetrievalDirection {
  std::string name;                                  // "C2P", "P2C"
  std::vector<std::size_t> query_records, gallery_records;  // indices into the split
  std::vector<int> query_labels, gallery_labels;            // identity labels (shared numbering)
  torch::Tensor distances;                           // [Q, G], after post-processing
  std::size_t adjusted = 0;                          // queries changed by the rank adjustment
  RetrievalMetrics metrics;

  torch::Tensor query_features(const torch::Tensor& features) const;
  torch::Tensor gallery_features(const torch::Tensor& features) const;
};

// C2P and P2C of `data` (records and labels, nothing computed yet). Throws a DataError
// when the split lacks photos or cartoons.
std::vector<RetrievalDirection> cross_domain_directions(const Dataset& data);

// A user-defined direction: the records of split `query_split` against those of
// `gallery_split` (both in `data`, any domains), named "<query>-><gallery>".
RetrievalDirection split_direction(const Dataset& data, const std::string& query_split, const std::string& gallery_split);

// Fills distances (options' recipe) and metrics. features: [N, D], row i for record i.
void evaluate_direction(RetrievalDirection& direction, const torch::Tensor& features, const RetrievalOptions& options);
// Metrics for given distances (an ensemble's, say).
void evaluate_direction(RetrievalDirection& direction, torch::Tensor distances);

struct CrossDomainReport {
  RetrievalMetrics c2p;
  RetrievalMetrics p2c;
};

std::vector<RetrievalDirection> run_cross_domain(const torch::Tensor& features, const Dataset& data,
                                                 const RetrievalOptions& options);
CrossDomainReport summarise(const std::vector<RetrievalDirection>& directions);

// Plain distances, no post-processing.
CrossDomainReport evaluate_cross_domain(const torch::Tensor& features, const Dataset& data, DistanceKind kind);
CrossDomainReport evaluate_cross_domain(const torch::Tensor& features, const Dataset& data, const RetrievalOptions& options);

// {"C2P": {"mAP", "rank1", "rank5", "rank10", "mINP", "queries", "skipped"}, "P2C": {...}}
nlohmann::json to_json(const CrossDomainReport& report);
// A small aligned table, percentages.
std::string format_table(const CrossDomainReport& report);
// The same as a Markdown table.
std::string format_markdown(const CrossDomainReport& report);
// The same three for any directions, keyed by direction name.
nlohmann::json to_json(const std::vector<RetrievalDirection>& directions);
std::string format_table(const std::vector<RetrievalDirection>& directions);
std::string format_markdown(const std::vector<RetrievalDirection>& directions);

}  // namespace toonreid

namespace toonreid {

// A direction's queries grouped by the face-chain path that cut their chips
// (ImageRecord::face_path: ssd, dlib, landmarks, letterbox, ...), in the order paths are
// first met. Empty when no query was aligned (input.align off). `data` is the split the
// direction's record indices refer to.
struct PathMetrics {
  std::string path;
  std::size_t queries = 0;  // evaluated queries on this path (with a true match)
  double share = 0;         // queries / all evaluated queries of the direction
  double mAP = 0, rank1 = 0;
};
std::vector<PathMetrics> by_query_path(const RetrievalDirection& direction, const Dataset& data);

// "C2P by query path: ssd 683 (57%) mAP 51.4 R1 ..." lines for every direction; empty
// when nothing was aligned. The JSON form goes under each direction's "by_query_path".
std::string format_path_table(const std::vector<RetrievalDirection>& directions, const Dataset& data);
std::string format_path_markdown(const std::vector<RetrievalDirection>& directions, const Dataset& data);
void add_path_json(nlohmann::json& json, const std::vector<RetrievalDirection>& directions, const Dataset& data);

}  // namespace toonreid
