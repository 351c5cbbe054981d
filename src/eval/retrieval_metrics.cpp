#include "eval/retrieval_metrics.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>

#include "core/error.h"

namespace toonreid {

RetrievalMetrics evaluate_retrieval(const at::Tensor& distances, const std::vector<int>& query_labels,
                                    const std::vector<int>& gallery_labels, std::size_t max_rank) {
  if (distances.dim() != 2 || distances.size(0) != static_cast<long>(query_labels.size()) ||
      distances.size(1) != static_cast<long>(gallery_labels.size()))
    throw Error("evaluate_retrieval: distance matrix shape does not match the label lists");
  const at::Tensor d = distances.to(at::kFloat).contiguous();
  const std::size_t nq = query_labels.size(), ng = gallery_labels.size();
  RetrievalMetrics m;
  m.cmc.assign(max_rank, 0.0);
  std::vector<std::size_t> order(ng);
  for (std::size_t q = 0; q < nq; ++q) {
    const float* row = d.data_ptr<float>() + q * ng;
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return row[a] < row[b]; });
    std::size_t positives = 0, first = 0, last = 0;
    double precision_sum = 0;
    for (std::size_t r = 0; r < ng; ++r) {
      if (gallery_labels[order[r]] != query_labels[q]) continue;
      ++positives;
      if (positives == 1) first = r;
      last = r;
      precision_sum += static_cast<double>(positives) / static_cast<double>(r + 1);
    }
    if (positives == 0) {
      ++m.skipped;
      continue;
    }
    ++m.queries;
    m.mAP += precision_sum / static_cast<double>(positives);
    m.mINP += static_cast<double>(positives) / static_cast<double>(last + 1);
    for (std::size_t k = first; k < max_rank; ++k) m.cmc[k] += 1.0;
  }
  if (m.queries > 0) {
    m.mAP /= static_cast<double>(m.queries);
    m.mINP /= static_cast<double>(m.queries);
    for (auto& c : m.cmc) c /= static_cast<double>(m.queries);
  }
  return m;
}

}  // namespace toonreid
