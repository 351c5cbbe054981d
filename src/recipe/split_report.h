// What the eval, rank and visualize commands make of a split's retrieval: the HTML
// report's input, ranked-list pictures, the saved matrices, and the rank CSV.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "eval/html_report.h"
#include "recipe/run_setup.h"

namespace toonreid {

// Ranked-list pictures of `per_direction` seeded random queries per direction (PNG bytes).
std::vector<ReportPicture> ranked_list_pictures(const SplitRetrieval& r, std::size_t per_direction, std::uint64_t seed,
                                                std::size_t top_k = 5);

// train_log.jsonl beside a checkpoint or in the run folder above its checkpoints/ (empty
// path when there is none).
std::filesystem::path find_training_log(const std::string& weights);

// The HTML report's input: facts (model, data, split, sizes, retrieval recipe), metrics,
// the training curves of `training_log` (if not empty) and `pictures` queries per direction.
ReportInput split_report_input(const SplitRetrieval& r, const Config& config, const std::string& split_name,
                               const std::filesystem::path& training_log, std::size_t pictures);

// features.{npy,trm} and records.csv (one row per feature row).
void save_split_features(const std::filesystem::path& dir, const Dataset& data, const torch::Tensor& features);

// features.{npy,trm}, each direction's distances ({c2p,p2c}.{npy,trm}) and records.csv.
void save_split_matrices(const std::filesystem::path& dir, const SplitRetrieval& r);

// The directions called `which` ("C2P", "P2C" or "both").
std::vector<const RetrievalDirection*> chosen_directions(const SplitRetrieval& r, const std::string& which);

// A query of `d` given as an index or as the end of its image's path; throws Error.
std::size_t resolve_query(const SplitRetrieval& r, const RetrievalDirection& d, const std::string& text);

// One CSV row per query: direction, query, query_identity, predicted_identity, correct,
// gallery (top-k paths), distances. Returns the CSV text.
std::string ranked_csv(const SplitRetrieval& r, const std::vector<const RetrievalDirection*>& directions, std::size_t top_k);

}  // namespace toonreid
