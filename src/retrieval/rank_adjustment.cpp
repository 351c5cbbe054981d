#include "retrieval/rank_adjustment.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace toonreid {

RankAdjustResult adjust_ranks(const torch::Tensor& query_gallery, const torch::Tensor& query_query,
                              const RankAdjustOptions& o) {
  if (query_gallery.dim() != 2 || query_query.dim() != 2 || query_query.size(0) != query_gallery.size(0) ||
      query_query.size(1) != query_gallery.size(0))
    throw Error("rank adjustment: expected [Q, G] query-gallery and [Q, Q] query-query distances");
  RankAdjustResult r;
  r.distances = query_gallery.to(torch::kFloat).contiguous().clone();
  const int64_t nq = r.distances.size(0), ng = r.distances.size(1);
  if (nq == 0 || ng == 0) return r;
  auto [best, top] = r.distances.min(1);
  best = best.contiguous();
  top = top.contiguous();
  const float* b = best.data_ptr<float>();
  const int64_t* t = top.data_ptr<int64_t>();
  const torch::Tensor qq = query_query.to(torch::kFloat).contiguous();
  const float* dqq = qq.data_ptr<float>();
  float* d = r.distances.data_ptr<float>();
  std::vector<std::pair<float, int64_t>> near;
  for (int64_t q = 0; q < nq; ++q) {
    if (!(b[q] > o.uncertain)) continue;
    near.clear();
    for (int64_t p = 0; p < nq; ++p)
      if (p != q && dqq[q * nq + p] < o.neighbor) near.emplace_back(dqq[q * nq + p], p);
    std::sort(near.begin(), near.end());
    for (const auto& [dist, p] : near) {
      if (!(b[p] < b[q] - o.margin)) continue;
      const int64_t g = t[p];
      if (g != t[q]) {
        // Just below the current best, in the float precision at that magnitude.
        d[q * ng + g] = std::nextafter(b[q], -std::numeric_limits<float>::infinity());
        ++r.adjusted;
      }
      break;
    }
  }
  return r;
}

}  // namespace toonreid
