// Ranked-list pictures: one row per query, the query image (blue frame) followed by its
// top-k gallery images framed green (same identity) or red (another identity), each
// with its identity and distance written underneath.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <opencv2/core/mat.hpp>

#include "data/dataset.h"
#include "eval/cross_domain.h"

namespace toonreid {

struct RankedListOptions {
  std::size_t top_k = 5;
  int tile = 96;  // pixels per image (square; images are fitted inside, aspect kept)
};

struct Match {
  std::size_t gallery = 0;  // index into the direction's gallery
  float distance = 0;
  bool correct = false;
};

// The k nearest gallery items of query `query` (index into the direction's queries),
// ordered as the metrics order them (distance, then gallery index).
std::vector<Match> top_matches(const RetrievalDirection& direction, std::size_t query, std::size_t k);

// `count` distinct query indices drawn with `seed` (all queries when count >= Q), sorted.
std::vector<std::size_t> pick_queries(const RetrievalDirection& direction, std::size_t count, std::uint64_t seed);

// RGB picture, one row per query. Unreadable images are drawn as a grey tile marked
// "unreadable" (the picture is still useful), and logged.
cv::Mat render_ranked_lists(const Dataset& data, const RetrievalDirection& direction,
                            const std::vector<std::size_t>& queries, const RankedListOptions& options = {});

}  // namespace toonreid
