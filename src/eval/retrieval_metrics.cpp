#include "eval/retrieval_metrics.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <map>

#include "core/error.h"

namespace toonreid {

namespace {

// Gallery positions of each label, ascending: a query's true matches are found in
// O(matches) instead of a pass over the gallery.
class LabelIndex {
 public:
  explicit LabelIndex(const std::vector<int>& labels) : labels_(labels) {
    for (std::size_t j = 0; j < labels.size(); ++j) members_[labels[j]].push_back(j);
  }
  const std::vector<std::size_t>& members(int label) const {
    static const std::vector<std::size_t> none;
    auto it = members_.find(label);
    return it == members_.end() ? none : it->second;
  }
  const std::vector<int>& labels() const { return labels_; }

 private:
  const std::vector<int>& labels_;
  std::map<int, std::vector<std::size_t>> members_;
};

// Ranks one query's true matches among its gallery row (any order-preserving key of the
// distance will do). One pass over the row: items keyed before the last true match are
// placed among the true matches by binary search; `between[t]` counts the wrong items
// ordered after true match t-1 and before true match t, (key, index) ascending.
// Returns false when the row holds NaN.
bool rank_query(const float* row, const LabelIndex& gallery, int label, int64_t exclude,
                std::vector<std::pair<float, std::size_t>>& pos, std::vector<std::size_t>& between, QueryResult& r) {
  r = QueryResult{};
  r.label = label;
  pos.clear();
  for (std::size_t j : gallery.members(label))
    if (static_cast<int64_t>(j) != exclude) pos.emplace_back(row[j], j);
  const std::size_t ng = gallery.labels().size();
  r.positives = pos.size();
  if (pos.empty()) {
    for (std::size_t j = 0; j < ng; ++j)
      if (std::isnan(row[j])) return false;
    return true;
  }
  std::sort(pos.begin(), pos.end());
  if (std::isnan(pos.back().first)) return false;
  between.assign(pos.size() + 1, 0);
  const auto last = pos.back();
  const int* labels = gallery.labels().data();
  bool nan = false;
  for (std::size_t j = 0; j < ng; ++j) {
    const float d = row[j];
    if (!(d <= last.first)) {  // after the last true match, or NaN
      nan |= d != d;
      continue;
    }
    if (labels[j] == label || static_cast<int64_t>(j) == exclude) continue;
    const std::pair<float, std::size_t> key{d, j};
    if (!(key < last)) continue;
    ++between[static_cast<std::size_t>(std::lower_bound(pos.begin(), pos.end(), key) - pos.begin())];
  }
  if (nan) return false;
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
  return true;
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

// Ranks rows [start, start + block.size(0)) of a [rows, G] block of distances (or of
// keys in the same order) in parallel.
void rank_block(const at::Tensor& block, int64_t start, const std::vector<int>& ql, const LabelIndex& gallery,
                const std::vector<int64_t>* gallery_index_of_query, std::vector<QueryResult>& out) {
  const at::Tensor d = block.to(at::kFloat).contiguous();
  const int64_t ng = static_cast<int64_t>(gallery.labels().size());
  const float* base = d.data_ptr<float>();
  std::atomic<int64_t> nan_row{-1};
  at::parallel_for(0, d.size(0), 8, [&](int64_t begin, int64_t end) {
    std::vector<std::pair<float, std::size_t>> pos;
    std::vector<std::size_t> between;
    for (int64_t r = begin; r < end; ++r) {
      const int64_t q = start + r;
      const int64_t exclude = gallery_index_of_query ? (*gallery_index_of_query)[static_cast<std::size_t>(q)] : -1;
      if (!rank_query(base + r * ng, gallery, ql[static_cast<std::size_t>(q)], exclude, pos, between,
                      out[static_cast<std::size_t>(q)]))
        nan_row = q;
    }
  });
  if (nan_row >= 0)
    throw Error("evaluate_retrieval: the distances of query " + std::to_string(nan_row.load()) + " contain NaN");
}

// Calls fn(first_row, keys) for blocks of query rows, keys [rows, G] ordered as the
// distances are but cheaper: |g|^2 - 2 q.g for Euclidean (|q|^2 and the square root
// change no order within a row) and -cos for cosine and angular. One matrix product
// per block, nothing else over the block before ranking.
void for_each_rank_key_block(const at::Tensor& queries, const at::Tensor& gallery, DistanceKind kind,
                             int64_t block_rows, const std::function<void(int64_t, const at::Tensor&)>& fn) {
  at::NoGradGuard no_grad;
  at::Tensor q = queries.to(at::kFloat).contiguous(), g = gallery.to(at::kFloat).contiguous();
  if (kind != DistanceKind::Euclidean) {
    q = q / q.norm(2, 1, true).clamp_min(1e-12);
    g = g / g.norm(2, 1, true).clamp_min(1e-12);
  }
  const at::Tensor bias = kind == DistanceKind::Euclidean ? g.pow(2).sum(1).unsqueeze(0) : at::zeros({1, g.size(0)});
  const at::Tensor gt = (g * (kind == DistanceKind::Euclidean ? -2.0 : -1.0)).t();
  for (int64_t start = 0; start < q.size(0); start += block_rows) {
    const at::Tensor qb = q.narrow(0, start, std::min(block_rows, q.size(0) - start));
    fn(start, kind == DistanceKind::Euclidean ? at::addmm(bias, qb, gt) : at::mm(qb, gt));
  }
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
  const LabelIndex gallery(gl);
  // Blocks bound the float copy made for non-float or non-contiguous input.
  const int64_t rows = block_rows_for(distances.size(1), 256 << 20);
  for (int64_t s = 0; s < distances.size(0); s += rows)
    rank_block(distances.narrow(0, s, std::min(rows, distances.size(0) - s)), s, ql, gallery,
               self.empty() ? nullptr : &self, results);
  return summarise(std::move(results), o.max_rank);
}

RetrievalMetrics evaluate_retrieval(const at::Tensor& query_features, const at::Tensor& gallery_features,
                                    DistanceKind kind, const std::vector<int>& ql, const std::vector<int>& gl,
                                    const RankingOptions& o) {
  check_sizes(query_features.size(0), gallery_features.size(0), ql, gl, o);
  if (query_features.dim() != 2 || gallery_features.dim() != 2 || query_features.size(1) != gallery_features.size(1))
    throw Error("evaluate_retrieval: query and gallery features must be [N, D] with the same D");
  std::vector<QueryResult> results(ql.size());
  const std::vector<int64_t> self = self_matches(o);
  const LabelIndex gallery(gl);
  // 16 MB blocks: the memory stays small whatever the sizes, and each block holds
  // enough rows for an efficient matrix product and for every thread.
  for_each_rank_key_block(query_features, gallery_features, kind, block_rows_for(gallery_features.size(0), 16 << 20),
                          [&](int64_t start, const at::Tensor& keys) {
                            rank_block(keys, start, ql, gallery, self.empty() ? nullptr : &self, results);
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
