#include "retrieval/rerank.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <random>

#include <spdlog/spdlog.h>

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
    return from_dot(dot(i, j), i, j) / row_max[static_cast<std::size_t>(i)];
  }
  float dot(int64_t i, int64_t j) const {
    const float *a = row(i), *b = row(j);
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // independent sums: lets the compiler vectorise
    int64_t d = 0;
    for (; d + 8 <= dim; d += 8)
      for (int l = 0; l < 8; ++l) acc[l] += a[d + l] * b[d + l];
    float sum = 0;
    for (; d < dim; ++d) sum += a[d] * b[d];
    for (float v : acc) sum += v;
    return sum;
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
// With `queries_only`, only the tiles that involve a query row: every pair with a query
// (exact), none between gallery items (left to approximate_gallery_neighbours).
Neighbourhoods find_neighbours(const torch::Tensor& q, const torch::Tensor& g, DistanceKind kind, int64_t k,
                               float* out, bool queries_only) {
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
  const int64_t ng = nb.n - nb.nq, tile = 1024, rows_end = queries_only ? nb.nq : nb.n;
  for (int64_t a = 0; a < rows_end; a += tile) {
    const int64_t la = std::min(tile, rows_end - a);
    const torch::Tensor xa = rows_of(nb, a, la);
    // The diagonal tile [a, a + la) first, then whole tiles to the right of it.
    for (int64_t b = a; b < nb.n; b += b == a ? la : tile) {
      const int64_t lb = b == a ? la : std::min(tile, nb.n - b);
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
  if (!queries_only)
    for (auto& m : nb.row_max) m = m > 0 ? m : 1.0f;
  return nb;
}

// Base distance from a squared L2 distance between rows as FAISS returns it (unit rows
// for cosine and angular).
float from_squared_l2(float l2, DistanceKind kind) {
  switch (kind) {
    case DistanceKind::Euclidean: return std::max(0.0f, l2);
    case DistanceKind::Cosine: return std::max(0.0f, 0.5f * l2);
    case DistanceKind::Angular: return std::acos(std::clamp(1.0f - 0.5f * l2, -1.0f, 1.0f));
  }
  return 0;
}

// Offers the base distances between gallery items `rows` and `columns` (sample indices,
// gallery range) to the rows' neighbour lists and maxima: one matrix product.
void offer_gallery_block(Neighbourhoods& nb, const std::vector<int64_t>& rows, const std::vector<int64_t>& columns) {
  auto gather = [&](const std::vector<int64_t>& idx) {
    std::vector<int64_t> local(idx.size());
    for (std::size_t t = 0; t < idx.size(); ++t) local[t] = idx[t] - nb.nq;
    return nb.gallery.index_select(0, torch::tensor(local, torch::kLong));
  };
  const torch::Tensor dots = torch::mm(gather(rows), gather(columns).t()).contiguous();
  const float* dp = dots.data_ptr<float>();
  const int64_t lc = static_cast<int64_t>(columns.size());
  at::parallel_for(0, static_cast<int64_t>(rows.size()), 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t i = rows[static_cast<std::size_t>(r)];
      float mx = nb.row_max[static_cast<std::size_t>(i)];
      for (int64_t c = 0; c < lc; ++c) {
        const int64_t j = columns[static_cast<std::size_t>(c)];
        const float v = i == j ? 0.0f : nb.from_dot(dp[r * lc + c], i, j);
        mx = std::max(mx, v);
        nb.offer(i, v, static_cast<int32_t>(j));
      }
      nb.row_max[static_cast<std::size_t>(i)] = mx;
    }
  });
}

// The `count` leading principal directions [D, count] of the rows of `x`, by a
// randomised range finder (two power iterations) on a seeded sample of 8192 rows: a few
// matrix products instead of the eigendecomposition of the D x D covariance.
torch::Tensor principal_directions(const torch::Tensor& x, int64_t count, std::uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const int64_t n = x.size(0), take = std::min<int64_t>(n, 8192);
  torch::Tensor sample = x.index_select(0, torch::randperm(n, gen, torch::kLong).narrow(0, 0, take));
  sample = sample - sample.mean(0, true);
  const int64_t width = std::min<int64_t>(count + 32, x.size(1));
  torch::Tensor basis = std::get<0>(torch::linalg_qr(sample.t().mm(sample.mm(torch::randn({x.size(1), width}, gen)))));
  basis = std::get<0>(torch::linalg_qr(sample.t().mm(sample.mm(basis))));
  const torch::Tensor projected = sample.mm(basis);
  const auto eig = torch::linalg_eigh(projected.t().mm(projected));  // ascending eigenvalues
  return basis.mm(std::get<1>(eig).narrow(1, width - count, count));
}

// Gallery x gallery neighbours, approximately (see rerank.h), into the gallery rows of
// `nb`, whose query pairs find_neighbours(..., queries_only) has already offered.
void approximate_gallery_neighbours(Neighbourhoods& nb, const ReRankOptions& o) {
  const int64_t ng = nb.n - nb.nq, dim = nb.dim;
  if (ng == 0) return;
  const float* g = nb.gallery.data_ptr<float>();
  if (o.neighbours.kind == AnnKind::Hnsw) {
    // Above 128 dimensions the graph is built on a 128-d principal projection (FAISS' distance
    // code is SSE-only in the Debian build: full 2048-d comparisons would dominate), asked
    // for twice the candidates, and the candidates are re-scored in full dimension.
    const int64_t reduced_dim = dim > 128 ? 128 : dim;
    torch::Tensor reduced;
    const float* points = g;
    if (reduced_dim < dim) {
      reduced = nb.gallery.mm(principal_directions(nb.gallery, reduced_dim, o.seed)).contiguous();
      points = reduced.data_ptr<float>();
      spdlog::debug("re-ranking: projected on {} of {} principal directions", reduced_dim, dim);
    }
    const int64_t kk = std::min<int64_t>((reduced_dim < dim ? 2 : 1) * (nb.k + 1), ng);
    AnnSpec graph = o.neighbours;
    graph.hnsw_ef_search = std::max<int>(graph.hnsw_ef_search, static_cast<int>(kk));
    const std::unique_ptr<faiss::Index> index = make_ann_index(graph, reduced_dim, faiss::METRIC_L2);
    index->add(ng, points);
    spdlog::debug("re-ranking: HNSW graph of {} items built", ng);
    std::vector<float> d(static_cast<std::size_t>(ng * kk));
    std::vector<faiss::Index::idx_t> idx(static_cast<std::size_t>(ng * kk));
    index->search(ng, points, kk, d.data(), idx.data());
    spdlog::debug("re-ranking: HNSW searched");
    at::parallel_for(0, ng, 256, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t i = nb.nq + r;
        float mx = nb.row_max[static_cast<std::size_t>(i)];
        nb.offer(i, 0.0f, static_cast<int32_t>(i));  // itself, whether the graph returned it or not
        for (int64_t t = 0; t < kk; ++t) {
          const faiss::Index::idx_t j = idx[static_cast<std::size_t>(r * kk + t)];
          if (j < 0 || j == r) continue;
          const float v = reduced_dim < dim ? nb.from_dot(nb.dot(i, nb.nq + j), i, nb.nq + j)
                                            : from_squared_l2(d[static_cast<std::size_t>(r * kk + t)], nb.kind);
          mx = std::max(mx, v);
          nb.offer(i, v, static_cast<int32_t>(nb.nq + j));
        }
        nb.row_max[static_cast<std::size_t>(i)] = mx;
      }
    });
  } else {
    // Cells from FAISS k-means (its assignment steps run as BLAS matrix products).
    const int64_t lists = std::clamp<int64_t>(o.neighbours.ivf_lists > 0 ? o.neighbours.ivf_lists : std::llround(std::sqrt(double(ng))), 1, ng);
    faiss::ClusteringParameters cp;
    cp.niter = 10;
    cp.seed = static_cast<int>(o.seed);
    cp.max_points_per_centroid = 64;  // k-means on a sample: cells need not be optimal
    cp.verbose = false;
    faiss::Clustering clustering(static_cast<int>(dim), static_cast<int>(lists), cp);
    faiss::IndexFlatL2 centroids(static_cast<int>(dim));
    clustering.train(ng, g, centroids);
    // Each item is compared with the members of its `probe` nearest cells (IVF's
    // search), batched by cell: cell c's members against every item that probes c, one
    // matrix product per cell. Every pair is offered once per direction.
    const int64_t probe = std::clamp<int64_t>(o.neighbours.ivf_probe, 1, lists);
    std::vector<float> unused(static_cast<std::size_t>(ng * probe));
    std::vector<faiss::Index::idx_t> cells(static_cast<std::size_t>(ng * probe));
    centroids.search(ng, g, probe, unused.data(), cells.data());
    std::vector<std::vector<int64_t>> members(static_cast<std::size_t>(lists)), probers(static_cast<std::size_t>(lists));
    for (int64_t r = 0; r < ng; ++r) {
      members[static_cast<std::size_t>(cells[static_cast<std::size_t>(r * probe)])].push_back(nb.nq + r);
      for (int64_t t = 0; t < probe; ++t) {
        const faiss::Index::idx_t c = cells[static_cast<std::size_t>(r * probe + t)];
        if (c >= 0) probers[static_cast<std::size_t>(c)].push_back(nb.nq + r);
      }
    }
    // In pieces of at most 2048 x 2048 pairs: k-means cells can be far from equal in
    // size, and the memory must not follow the largest.
    const std::size_t piece = 2048;
    std::size_t pairs = 0, largest = 0;
    for (int64_t c = 0; c < lists; ++c) {
      const auto& m = members[static_cast<std::size_t>(c)];
      const auto& p = probers[static_cast<std::size_t>(c)];
      pairs += m.size() * p.size(), largest = std::max(largest, m.size());
      for (std::size_t a = 0; a < p.size(); a += piece)
        for (std::size_t b = 0; b < m.size(); b += piece)
          offer_gallery_block(nb, std::vector<int64_t>(p.begin() + a, p.begin() + std::min(p.size(), a + piece)),
                              std::vector<int64_t>(m.begin() + b, m.begin() + std::min(m.size(), b + piece)));
    }
    spdlog::debug("re-ranking: {} cells (largest {} of {} items), {:.1f}% of the gallery pairs compared", lists, largest,
                  ng, 100.0 * static_cast<double>(pairs) / (static_cast<double>(ng) * static_cast<double>(ng)));
  }
  // Rows the search left short of k neighbours (tiny galleries, empty cells): exactly.
  std::vector<int64_t> short_rows, gallery_rows;
  for (int64_t r = 0; r < ng; ++r) {
    gallery_rows.push_back(nb.nq + r);
    if (nb.count[static_cast<std::size_t>(nb.nq + r)] < nb.k) short_rows.push_back(nb.nq + r);
  }
  if (!short_rows.empty()) {
    for (int64_t i : short_rows) nb.count[static_cast<std::size_t>(i)] = 0;  // start over: no pair twice
    for (int64_t i : short_rows) nb.row_max[static_cast<std::size_t>(i)] = 0.0f;
    offer_gallery_block(nb, short_rows, gallery_rows);
    // Their query pairs again, since the lists were reset.
    if (nb.nq > 0) {
      const torch::Tensor rows = nb.gallery.index_select(0, torch::tensor(short_rows, torch::kLong) - nb.nq);
      const torch::Tensor dots = torch::mm(rows, nb.query.t()).contiguous();
      const float* dp = dots.data_ptr<float>();
      for (std::size_t r = 0; r < short_rows.size(); ++r)
        for (int64_t qi = 0; qi < nb.nq; ++qi) {
          const float v = nb.from_dot(dp[static_cast<int64_t>(r) * nb.nq + qi], short_rows[r], qi);
          nb.row_max[static_cast<std::size_t>(short_rows[r])] = std::max(nb.row_max[static_cast<std::size_t>(short_rows[r])], v);
          nb.offer(short_rows[r], v, static_cast<int32_t>(qi));
        }
    }
  }
  // The normaliser of gallery rows: also their maximum over a seeded gallery sample
  // (far items decide it, and neighbour searches only see near ones).
  std::vector<int64_t> sample;
  std::mt19937_64 rng(o.seed);
  const int64_t want = std::min<int64_t>(256, ng);
  std::vector<int64_t> all(static_cast<std::size_t>(ng));
  for (int64_t r = 0; r < ng; ++r) all[static_cast<std::size_t>(r)] = nb.nq + r;
  std::sample(all.begin(), all.end(), std::back_inserter(sample), want, rng);
  const torch::Tensor sample_rows = nb.gallery.index_select(0, torch::tensor(sample, torch::kLong) - nb.nq);
  for (int64_t start = 0; start < ng; start += 8192) {
    const int64_t len = std::min<int64_t>(8192, ng - start);
    const torch::Tensor dots = torch::mm(nb.gallery.narrow(0, start, len), sample_rows.t()).contiguous();
    const float* dp = dots.data_ptr<float>();
    at::parallel_for(0, len, 256, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t i = nb.nq + start + r;
        float& mx = nb.row_max[static_cast<std::size_t>(i)];
        for (int64_t t = 0; t < want; ++t) mx = std::max(mx, nb.from_dot(dp[r * want + t], i, sample[static_cast<std::size_t>(t)]));
      }
    });
  }
  for (auto& m : nb.row_max) m = m > 0 ? m : 1.0f;
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
  const bool approximate = o.neighbours.kind != AnnKind::Exact && n > o.approximate_above;
  Neighbourhoods nb = find_neighbours(query_features.to(torch::kFloat).contiguous(),
                                      gallery_features.to(torch::kFloat).contiguous(), kind, std::max(o.k1 + 1, o.k2),
                                      out.data_ptr<float>(), approximate);
  spdlog::debug("re-ranking: exact pass over the query rows done");
  if (approximate) approximate_gallery_neighbours(nb, o);
  spdlog::debug("re-ranking: neighbour lists complete");

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
