// The query-neighbour rank adjustment of the BDCI cartoon-face solution: a query whose
// best gallery match is far (an uncertain query) borrows the top match of a nearby,
// more confident query. For query q with best gallery distance b(q) > `uncertain`,
// the other queries q' with d(q, q') < `neighbor` are visited nearest first; the first
// with b(q') < b(q) - `margin` lends its top gallery match, which becomes q's top match
// (its distance set just below b(q); the rest of q's ranking is unchanged). Decisions
// use the unadjusted distances, so the result does not depend on query order.
#pragma once

#include <cstddef>

#include <torch/types.h>

namespace toonreid {

struct RankAdjustOptions {
  double uncertain = 0.8;
  double neighbor = 0.7;
  double margin = 0.1;
};

struct RankAdjustResult {
  torch::Tensor distances;  // adjusted [Q, G]
  std::size_t adjusted = 0; // queries whose top match changed
};

// query_gallery: [Q, G] distances; query_query: [Q, Q] distances between the queries.
RankAdjustResult adjust_ranks(const torch::Tensor& query_gallery, const torch::Tensor& query_query,
                              const RankAdjustOptions& options = {});

}  // namespace toonreid
