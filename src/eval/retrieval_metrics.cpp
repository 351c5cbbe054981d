#include "eval/retrieval_metrics.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>

#include "core/error.h"

namespace toonreid {

namespace {

// Ranks one query's true matches among its gallery row. `before[i]` = items ordered
// before the i-th true match (sorted by (distance, index)).
QueryResult rank_query(const float* row, std::size_t ng, int label, const std::vector<int>& gallery_labels,
                       int64_t exclude, std::vector<std::pair<float, std::size_t>>& pos,
                       std::vector<std::size_t>& between) {
  QueryResult r;
  r.label = label;
  pos.clear();
  for (std::size_t j = 0; j < ng; ++j)
    if (gallery_labels[j] == label && static_cast<int64_t>(j) != exclude) pos.emplace_back(row[j], j);
  r.positives = pos.size();
  if (pos.empty()) return r;
  std::sort(pos.begin(), pos.end());
  // between[t]: wrong matches ordered after true match t-1 and before true match t.
  between.assign(pos.size() + 1, 0);
  const auto last = pos.back();
  for (std::size_t j = 0; j < ng; ++j) {
    const float d = row[j];
    if (d > last.first || gallery_labels[j] == label || static_cast<int64_t>(j) == exclude) continue;
    const std::pair<float, std::size_t> key{d, j};
    if (!(key < last)) continue;
    ++between[static_cast<std::size_t>(std::lower_bound(pos.begin(), pos.end(), key) - pos.begin())];
  }
  std::size_t wrong_before = 0;
  double precision_sum = 0;
  std::size_t rank = 0;
  for (std::size_t i = 0; i < pos.size(); ++i) {
    wrong_before += between[i];
    rank = i + wrong_before;  // 0-based
    precision_sum += static_cast<double>(i + 1) / static_cast<double>(rank + 1);
    if (i == 0) r.first_hit = static_cast<int64_t>(rank);
  }
  r.ap = precision_sum / static_cast<double>(pos.size());
  r.inp = static_cast<double>(pos.size()) / static_cast<double>(rank + 1);
  return r;
}

void check_sizes(int64_t rows, int64_t cols, const std::vector<int>& ql, const std::vector<int>& gl,
                 const RankingOptions& o) {
  if (rows != static_cast<int64_t>(ql.size()) || cols != static_cast<int64_t>(gl.size()))
    throw Error("evaluate_retrieval: " + std::to_string(rows) + " x " + std::to_string(cols) +
                " distances for " + std::to_string(ql.size()) + " query and " + std::to_string(gl.size()) +
                " gallery labels");
  if (o.query_ids.empty() != o.gallery_ids.empty() ||
      (!o.query_ids.empty() && (o.query_ids.size() != ql.size() || o.gallery_ids.size() != gl.size())))
    throw Error("evaluate_retrieval: record ids must be given for every query and gallery item, or not at all");
}

// Ranks rows [start, start + block.size(0)) of the distance matrix in parallel.
void rank_block(const at::Tensor& block, int64_t start, const std::vector<int>& ql, const std::vector<int>& gl,
                const std::vector<int64_t>* gallery_index_of_query,
                std::vector<QueryResult>& out) {
  const at::Tensor d = block.to(at::kFloat).contiguous();
  const std::size_t ng = gl.size();
  const float* base = d.data_ptr<float>();
  std::atomic<int64_t> nan_row{-1};
  at::parallel_for(0, d.size(0), 16, [&](int64_t begin, int64_t end) {
    std::vector<std::pair<float, std::size_t>> pos;
    std::vector<std::size_t> between;
    for (int64_t r = begin; r < end; ++r) {
      const int64_t q = start + r;
      const float* row = base + r * static_cast<int64_t>(ng);
      if (std::any_of(row, row + ng, [](float v) { return std::isnan(v); })) {
        nan_row = q;
        continue;
      }
      const int64_t exclude = gallery_index_of_query ? (*gallery_index_of_query)[static_cast<std::size_t>(q)] : -1;
      out[static_cast<std::size_t>(q)] = rank_query(row, ng, ql[static_cast<std::size_t>(q)], gl, exclude, pos, between);
    }
  });
  if (nan_row >= 0)
    throw Error("evaluate_retrieval: the distances of query " + std::to_string(nan_row.load()) + " contain NaN");
}

// For each query, the gallery position holding the same record id (-1 if none).
std::vector<int64_t> self_matches(const RankingOptions& o) {
  std::map<int64_t, int64_t> where;
  for (std::size_t j = 0; j < o.gallery_ids.size(); ++j) where.emplace(o.gallery_ids[j], static_cast<int64_t>(j));
  std::vector<int64_t> out(o.query_ids.size(), -1);
  for (std::size_t q = 0; q < o.query_ids.size(); ++q) {
    auto it = where.find(o.query_ids[q]);
    if (it != where.end()) out[q] = it->second;
  }
  return out;
}

RetrievalMetrics summarise(std::vector<QueryResult> results, std::size_t max_rank) {
  RetrievalMetrics m;
  m.cmc.assign(max_rank, 0.0);
  for (const auto& r : results) {
    if (r.positives == 0) {
      ++m.skipped;
      continue;
    }
    ++m.queries;
    m.mAP += r.ap;
    m.mINP += r.inp;
    for (std::size_t k = static_cast<std::size_t>(r.first_hit); k < max_rank; ++k) m.cmc[k] += 1.0;
  }
  if (m.queries > 0) {
    m.mAP /= static_cast<double>(m.queries);
    m.mINP /= static_cast<double>(m.queries);
    for (auto& c : m.cmc) c /= static_cast<double>(m.queries);
  }
  m.per_query = std::move(results);
  return m;
}

}  // namespace

RetrievalMetrics evaluate_retrieval(const at::Tensor& distances, const std::vector<int>& ql, const std::vector<int>& gl,
                                    const RankingOptions& o) {
  if (distances.dim() != 2) throw Error("evaluate_retrieval: the distance matrix must be 2-D");
  check_sizes(distances.size(0), distances.size(1), ql, gl, o);
  std::vector<QueryResult> results(ql.size());
  const std::vector<int64_t> self = self_matches(o);
  // Blocks bound the float copy made for non-float or non-contiguous input.
  const int64_t rows = block_rows_for(distances.size(1), 256 << 20);
  for (int64_t s = 0; s < distances.size(0); s += rows)
    rank_block(distances.narrow(0, s, std::min(rows, distances.size(0) - s)), s, ql, gl,
               self.empty() ? nullptr : &self, results);
  return summarise(std::move(results), o.max_rank);
}

RetrievalMetrics evaluate_retrieval(const at::Tensor& query_features, const at::Tensor& gallery_features,
                                    DistanceKind kind, const std::vector<int>& ql, const std::vector<int>& gl,
                                    const RankingOptions& o) {
  check_sizes(query_features.size(0), gallery_features.size(0), ql, gl, o);
  std::vector<QueryResult> results(ql.size());
  const std::vector<int64_t> self = self_matches(o);
  // Small blocks: the memory stays a few MB whatever the sizes, and each block still
  // holds enough rows for every thread.
  for_each_distance_block(query_features, gallery_features, kind, block_rows_for(gallery_features.size(0), 8 << 20),
                          [&](int64_t start, const at::Tensor& block) {
                            rank_block(block, start, ql, gl, self.empty() ? nullptr : &self, results);
                          });
  return summarise(std::move(results), o.max_rank);
}

std::vector<IdentityMetrics> per_identity(const RetrievalMetrics& metrics) {
  std::map<int, IdentityMetrics> by_label;
  for (const auto& r : metrics.per_query) {
    if (r.positives == 0) continue;
    auto& id = by_label[r.label];
    id.label = r.label;
    ++id.queries;
    id.mAP += r.ap;
    id.rank1 += r.first_hit == 0 ? 1.0 : 0.0;
  }
  std::vector<IdentityMetrics> out;
  for (auto& [label, id] : by_label) {
    id.mAP /= static_cast<double>(id.queries);
    id.rank1 /= static_cast<double>(id.queries);
    out.push_back(id);
  }
  return out;
}

}  // namespace toonreid
