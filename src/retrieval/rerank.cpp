#include "retrieval/rerank.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace toonreid {

namespace {

using Neighbour = std::pair<float, int32_t>;  // (distance, index): ordered as a stable sort orders
struct SparseEntry {
  int32_t column;
  float value;
};
using SparseRow = std::vector<SparseEntry>;  // sorted by column

// Everything the steps share: features, per-row maxima and the K nearest neighbours of each sample.
struct Neighbourhoods {
  torch::Tensor query, gallery;  // [Q, D], [G, D] float, contiguous (unit rows for cosine / angular)
  DistanceKind kind;
  int64_t nq = 0, n = 0, dim = 0, k = 0;
  std::vector<float> sq_norm;    // |x|^2 per sample (Euclidean)
  std::vector<float> row_max;    // normaliser of each row of the base distance
  std::vector<int32_t> nearest;  // [N, k] indices, ascending (distance, index)
  std::vector<float> nearest_d;  // [N, k] their base distances
  std::vector<int32_t> count;    // filled entries per row (< k only while searching)

  const int32_t* of(int64_t i) const { return nearest.data() + i * k; }
  const float* row(int64_t i) const {
    return i < nq ? query.data_ptr<float>() + i * dim : gallery.data_ptr<float>() + (i - nq) * dim;
  }
  // Base distance from a dot product: squared Euclidean (BoT's convention), cosine, angular.
  float from_dot(float dot, int64_t i, int64_t j) const {
    switch (kind) {
      case DistanceKind::Euclidean: return std::max(0.0f, sq_norm[static_cast<std::size_t>(i)] + sq_norm[static_cast<std::size_t>(j)] - 2 * dot);
      case DistanceKind::Cosine: return 1.0f - dot;
      case DistanceKind::Angular: return std::acos(std::clamp(dot, -1.0f, 1.0f));
    }
    return 0;
  }
  // Normalised base distance of a pair: from i's neighbour list when there, else computed.
  float normalised(int64_t i, int64_t j) const {
    const int32_t* near = of(i);
    for (int64_t t = 0; t < k; ++t)
      if (near[t] == j) return nearest_d[static_cast<std::size_t>(i * k + t)] / row_max[static_cast<std::size_t>(i)];
    const float *a = row(i), *b = row(j);
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // independent sums: lets the compiler vectorise
    int64_t d = 0;
    for (; d + 8 <= dim; d += 8)
      for (int l = 0; l < 8; ++l) acc[l] += a[d + l] * b[d + l];
    float dot = 0;
    for (; d < dim; ++d) dot += a[d] * b[d];
    for (float v : acc) dot += v;
    return from_dot(dot, i, j) / row_max[static_cast<std::size_t>(i)];
  }
  // Offers (v, j) to row i's sorted list of the k smallest (distance, index) pairs.
  void offer(int64_t i, float v, int32_t j) {
    int32_t& c = count[static_cast<std::size_t>(i)];
    float* dist = nearest_d.data() + i * k;
    int32_t* idx = nearest.data() + i * k;
    auto less = [](float a, int32_t ia, float b, int32_t ib) { return a < b || (a == b && ia < ib); };
    if (c == k && !less(v, j, dist[k - 1], idx[k - 1])) return;
    int64_t pos = c < k ? c++ : k - 1;
    while (pos > 0 && less(v, j, dist[pos - 1], idx[pos - 1])) {
      dist[pos] = dist[pos - 1], idx[pos] = idx[pos - 1];
      --pos;
    }
    dist[pos] = v, idx[pos] = j;
  }
};

torch::Tensor rows_of(const Neighbourhoods& nb, int64_t start, int64_t len) {
  // Samples [start, start + len) of the virtual concatenation query ++ gallery.
  if (start + len <= nb.nq) return nb.query.narrow(0, start, len);
  if (start >= nb.nq) return nb.gallery.narrow(0, start - nb.nq, len);
  return torch::cat({nb.query.narrow(0, start, nb.nq - start), nb.gallery.narrow(0, 0, start + len - nb.nq)});
}

// One pass over the upper triangle of the N x N base distances, tile by tile: each
// tile's matrix product serves the rows of both tiles (half the arithmetic of a full
// pass), feeds every row's k-nearest list and maximum, and writes the raw query x
// gallery distances into `out` [Q, G]. Memory: two tiles, never N x N.
Neighbourhoods find_neighbours(const torch::Tensor& q, const torch::Tensor& g, DistanceKind kind, int64_t k,
                               float* out) {
  Neighbourhoods nb;
  nb.kind = kind;
  nb.query = kind == DistanceKind::Euclidean ? q : q / q.norm(2, 1, true).clamp_min(1e-12);
  nb.gallery = kind == DistanceKind::Euclidean ? g : g / g.norm(2, 1, true).clamp_min(1e-12);
  nb.query = nb.query.contiguous(), nb.gallery = nb.gallery.contiguous();
  nb.nq = q.size(0);
  nb.n = q.size(0) + g.size(0);
  nb.dim = q.size(1);
  nb.k = std::min<int64_t>(k, nb.n);
  nb.sq_norm.resize(static_cast<std::size_t>(nb.n));
  for (int64_t i = 0; i < nb.n; ++i) {
    const float* r = nb.row(i);
    double s = 0;
    for (int64_t d = 0; d < nb.dim; ++d) s += static_cast<double>(r[d]) * r[d];
    nb.sq_norm[static_cast<std::size_t>(i)] = static_cast<float>(s);
  }
  nb.row_max.assign(static_cast<std::size_t>(nb.n), 0.0f);
  nb.nearest.assign(static_cast<std::size_t>(nb.n * nb.k), 0);
  nb.nearest_d.assign(static_cast<std::size_t>(nb.n * nb.k), 0.0f);
  nb.count.assign(static_cast<std::size_t>(nb.n), 0);
  const int64_t ng = nb.n - nb.nq, tile = 1024;
  for (int64_t a = 0; a < nb.n; a += tile) {
    const int64_t la = std::min(tile, nb.n - a);
    const torch::Tensor xa = rows_of(nb, a, la);
    for (int64_t b = a; b < nb.n; b += tile) {
      const int64_t lb = std::min(tile, nb.n - b);
      const torch::Tensor dots = torch::mm(xa, rows_of(nb, b, lb).t()).contiguous();
      const float* dp = dots.data_ptr<float>();
      // Rows of tile a: whole rows of the product.
      at::parallel_for(0, la, 16, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const int64_t i = a + r;
          float mx = nb.row_max[static_cast<std::size_t>(i)];
          for (int64_t c = 0; c < lb; ++c) {
            const int64_t j = b + c;
            const float v = nb.from_dot(dp[r * lb + c], i, j);
            mx = std::max(mx, v);
            nb.offer(i, v, static_cast<int32_t>(j));
            if (i < nb.nq && j >= nb.nq) out[i * ng + (j - nb.nq)] = v;
          }
          nb.row_max[static_cast<std::size_t>(i)] = mx;
        }
      });
      if (b == a) continue;
      // Rows of tile b: the product's columns (the distance is symmetric).
      const torch::Tensor dots_t = dots.t().contiguous();
      const float* dt = dots_t.data_ptr<float>();
      at::parallel_for(0, lb, 16, [&](int64_t begin, int64_t end) {
        for (int64_t c = begin; c < end; ++c) {
          const int64_t j = b + c;
          float mx = nb.row_max[static_cast<std::size_t>(j)];
          for (int64_t r = 0; r < la; ++r) {
            const float v = nb.from_dot(dt[c * la + r], j, a + r);
            mx = std::max(mx, v);
            nb.offer(j, v, static_cast<int32_t>(a + r));
          }
          nb.row_max[static_cast<std::size_t>(j)] = mx;
        }
      });
    }
  }
  for (auto& m : nb.row_max) m = m > 0 ? m : 1.0f;
  return nb;
}

// Members of i's `k` nearest that have i among their own `k` nearest, in i's order.
std::vector<int32_t> k_reciprocal(const Neighbourhoods& nb, int32_t i, int64_t k) {
  std::vector<int32_t> out;
  const int32_t* forward = nb.of(i);
  for (int64_t t = 0; t < k; ++t) {
    const int32_t* back = nb.of(forward[t]);
    if (std::find(back, back + k, i) != back + k) out.push_back(forward[t]);
  }
  return out;
}

SparseRow encode_row(const Neighbourhoods& nb, int32_t i, int k1) {
  const int64_t k_full = std::min<int64_t>(k1 + 1, nb.k);
  // np.around(k1 / 2) in the reference rounds half to even.
  const int64_t k_half = std::min<int64_t>(static_cast<int64_t>(std::nearbyint(k1 / 2.0)) + 1, nb.k);
  std::vector<int32_t> r = k_reciprocal(nb, i, k_full);
  std::vector<int32_t> r_sorted = r;
  std::sort(r_sorted.begin(), r_sorted.end());
  std::vector<int32_t> expansion = r;
  for (int32_t c : r) {
    std::vector<int32_t> rc = k_reciprocal(nb, c, k_half);
    std::size_t common = 0;
    for (int32_t x : rc) common += std::binary_search(r_sorted.begin(), r_sorted.end(), x) ? 1 : 0;
    if (static_cast<double>(common) > 2.0 / 3.0 * static_cast<double>(rc.size()))
      expansion.insert(expansion.end(), rc.begin(), rc.end());
  }
  std::sort(expansion.begin(), expansion.end());
  expansion.erase(std::unique(expansion.begin(), expansion.end()), expansion.end());
  SparseRow row;
  row.reserve(expansion.size());
  double sum = 0;
  for (int32_t e : expansion) {
    const float w = std::exp(-nb.normalised(i, e));
    row.push_back({e, w});
    sum += w;
  }
  for (auto& entry : row) entry.value = static_cast<float>(entry.value / sum);
  return row;
}

// V_qe(i) = mean of V over i's k2 nearest neighbours.
std::vector<SparseRow> expand_rows(const Neighbourhoods& nb, const std::vector<SparseRow>& v, int k2) {
  std::vector<SparseRow> out(v.size());
  const int64_t k = std::min<int64_t>(k2, nb.k);
  at::parallel_for(0, nb.n, 64, [&](int64_t begin, int64_t end) {
    std::vector<float> acc(static_cast<std::size_t>(nb.n), 0.0f);
    std::vector<int32_t> touched;
    for (int64_t i = begin; i < end; ++i) {
      touched.clear();
      const int32_t* near = nb.of(i);
      for (int64_t t = 0; t < k; ++t)
        for (const auto& e : v[static_cast<std::size_t>(near[t])]) {
          if (acc[static_cast<std::size_t>(e.column)] == 0.0f) touched.push_back(e.column);
          acc[static_cast<std::size_t>(e.column)] += e.value;
        }
      std::sort(touched.begin(), touched.end());
      SparseRow& row = out[static_cast<std::size_t>(i)];
      row.reserve(touched.size());
      for (int32_t c : touched) {
        row.push_back({c, acc[static_cast<std::size_t>(c)] / static_cast<float>(k)});
        acc[static_cast<std::size_t>(c)] = 0.0f;
      }
    }
  });
  return out;
}

}  // namespace

torch::Tensor rerank_k_reciprocal(const torch::Tensor& query_features, const torch::Tensor& gallery_features,
                                  DistanceKind kind, const ReRankOptions& o) {
  if (o.k1 < 1 || o.k2 < 1) throw Error("re-ranking: k1 and k2 must be at least 1");
  if (!(o.lambda >= 0 && o.lambda <= 1)) throw Error("re-ranking: lambda must lie in [0, 1]");
  if (query_features.dim() != 2 || gallery_features.dim() != 2 || query_features.size(1) != gallery_features.size(1))
    throw Error("re-ranking: query and gallery features must be [N, D] with the same D");
  torch::NoGradGuard no_grad;
  const int64_t nq = query_features.size(0), ng = gallery_features.size(0), n = nq + ng;
  if (n > std::numeric_limits<int32_t>::max()) throw Error("re-ranking: too many samples");
  // The output first receives the raw query x gallery base distances from the neighbour pass.
  torch::Tensor out = torch::empty({nq, ng}, torch::kFloat);
  const Neighbourhoods nb = find_neighbours(query_features.to(torch::kFloat).contiguous(),
                                            gallery_features.to(torch::kFloat).contiguous(), kind,
                                            std::max(o.k1 + 1, o.k2), out.data_ptr<float>());

  std::vector<SparseRow> v(static_cast<std::size_t>(n));
  at::parallel_for(0, n, 32, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) v[static_cast<std::size_t>(i)] = encode_row(nb, static_cast<int32_t>(i), o.k1);
  });
  if (o.k2 != 1) v = expand_rows(nb, v, o.k2);

  // Inverted index over columns, holding gallery rows only (the Jaccard terms we need).
  std::vector<std::vector<SparseEntry>> by_column(static_cast<std::size_t>(n));
  for (int64_t g = 0; g < ng; ++g)
    for (const auto& e : v[static_cast<std::size_t>(nq + g)])
      by_column[static_cast<std::size_t>(e.column)].push_back({static_cast<int32_t>(g), e.value});

  // Output: lambda * d(q, g) + (1 - lambda) * 1 (Jaccard distance 1: nothing shared), then
  // the Jaccard distance replaces the 1 where q and g share neighbours.
  const float lambda = static_cast<float>(o.lambda);
  {
    float* d = out.data_ptr<float>();
    at::parallel_for(0, nq, 64, [&](int64_t begin, int64_t end) {
      for (int64_t q = begin; q < end; ++q) {
        const float scale = lambda / nb.row_max[static_cast<std::size_t>(q)];
        for (int64_t g = 0; g < ng; ++g) d[q * ng + g] = d[q * ng + g] * scale + (1.0f - lambda);
      }
    });
  }
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, nq, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> shared(static_cast<std::size_t>(ng), 0.0f);
    std::vector<int32_t> touched;
    for (int64_t q = begin; q < end; ++q) {
      touched.clear();
      for (const auto& e : v[static_cast<std::size_t>(q)])
        for (const auto& h : by_column[static_cast<std::size_t>(e.column)]) {
          float& s = shared[static_cast<std::size_t>(h.column)];
          if (s == 0.0f) touched.push_back(h.column);
          s += std::min(e.value, h.value);
        }
      for (int32_t g : touched) {
        const float s = shared[static_cast<std::size_t>(g)];
        // (1 - lambda) * (1 - s / (2 - s)) replaces the (1 - lambda) * 1 written above.
        dst[q * ng + g] -= (1.0f - lambda) * (s / (2.0f - s));
        shared[static_cast<std::size_t>(g)] = 0.0f;
      }
    }
  });
  return out;
}

}  // namespace toonreid
