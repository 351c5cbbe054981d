#include "mining/identity_mining.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <sstream>

#include "core/config.h"
#include "core/error.h"
#include "core/random.h"

namespace toonreid {

void add_mining_options(ConfigSchema& schema) {
  schema.describe_section("mining", "Pseudo-labels for unlabelled test data: Identity Mining or k-means.");
  schema.add_string("mining.method", "identity", "identity (IM: anchors and thresholds) or kmeans").one_of({"identity", "kmeans"});
  schema.add_float("mining.d_n", 0.49, "IM: minimum distance between anchors (new identities)").range(0, 1e9);
  schema.add_float("mining.d_p", 0.23, "IM: samples closer than this to an anchor take its identity").range(0, 1e9);
  schema.add_string("mining.distance", "euclidean",
                    "Distance the thresholds refer to, on L2-normalised features: euclidean, cosine or angular")
      .one_of(distance_names());
  schema.add_int("mining.grow_k", 0,
                 "IM stage 3: label unlabelled samples through mutual nearest neighbours among this many (0: off)")
      .range(0, 1000);
  schema.add_int("mining.grow_rounds", 3, "IM stage 3: rounds of growth at most").range(1, 100);
  schema.add_int("mining.kmeans_k", 100, "k-means: number of clusters (pseudo identities)").range(1, 10000000);
  schema.add_int("mining.kmeans_iterations", 50, "k-means: Lloyd iterations at most").range(1, 100000);
}

IdentityMiningOptions identity_mining_options(const Config& c) {
  IdentityMiningOptions o;
  o.d_n = c.get_float("mining.d_n");
  o.d_p = c.get_float("mining.d_p");
  o.distance = parse_distance(c.get_string("mining.distance"));
  o.seed = static_cast<std::uint64_t>(c.get_int("run.seed"));
  o.grow_k = static_cast<int>(c.get_int("mining.grow_k"));
  o.grow_rounds = static_cast<int>(c.get_int("mining.grow_rounds"));
  return o;
}

std::size_t MiningResult::labelled() const {
  return static_cast<std::size_t>(std::count_if(labels.begin(), labels.end(), [](int l) { return l >= 0; }));
}

namespace {

torch::Tensor unit_rows(const torch::Tensor& x) {
  torch::Tensor f = x.to(torch::kFloat);
  return (f / f.norm(2, 1, true).clamp_min(1e-12)).contiguous();
}

}  // namespace

MiningResult mine_identities(const torch::Tensor& queries, const torch::Tensor& gallery, const IdentityMiningOptions& o) {
  if (queries.dim() != 2 || gallery.dim() != 2 || (gallery.size(0) > 0 && queries.size(1) != gallery.size(1)))
    throw Error("identity mining: query and gallery features must be [N, D] with the same D");
  if (!(o.d_n >= 0) || !(o.d_p >= 0)) throw Error("identity mining: thresholds must not be negative");
  torch::NoGradGuard no_grad;
  MiningResult r;
  const int64_t nq = queries.size(0), ng = gallery.size(0);
  r.labels.assign(static_cast<std::size_t>(nq + ng), -1);
  if (nq == 0) return r;
  const torch::Tensor q = unit_rows(queries);

  // Stage 1: running minimum and sum of each query's distances to the anchors.
  std::vector<double> min_d(static_cast<std::size_t>(nq), std::numeric_limits<double>::infinity()), sum_d(static_cast<std::size_t>(nq), 0.0);
  std::vector<char> is_anchor(static_cast<std::size_t>(nq), 0);
  Rng rng(o.seed);
  if (o.first_anchor >= nq) throw Error("identity mining: first anchor " + std::to_string(o.first_anchor) + " of " + std::to_string(nq) + " queries");
  int64_t next = o.first_anchor >= 0 ? o.first_anchor : rng.integer(0, nq - 1);
  while (next >= 0) {
    r.anchors.push_back(next);
    is_anchor[static_cast<std::size_t>(next)] = 1;
    const torch::Tensor row = pairwise_distances(q.narrow(0, next, 1), q, o.distance).contiguous();
    const float* d = row.data_ptr<float>();
    next = -1;
    double best_sum = -1;
    for (int64_t i = 0; i < nq; ++i) {
      auto& m = min_d[static_cast<std::size_t>(i)];
      m = std::min(m, static_cast<double>(d[i]));
      sum_d[static_cast<std::size_t>(i)] += d[i];
      if (!is_anchor[static_cast<std::size_t>(i)] && m > o.d_n && sum_d[static_cast<std::size_t>(i)] > best_sum)
        best_sum = sum_d[static_cast<std::size_t>(i)], next = i;
    }
  }

  // Stage 2: nearest anchor within d_p, for queries and gallery alike.
  std::vector<int64_t> anchor_idx(r.anchors.begin(), r.anchors.end());
  const torch::Tensor anchors = q.index_select(0, torch::tensor(anchor_idx, torch::kLong));
  auto label = [&](const torch::Tensor& samples, int64_t offset) {
    if (samples.size(0) == 0) return;
    for_each_distance_block(unit_rows(samples), anchors, o.distance, block_rows_for(anchors.size(0)),
                            [&](int64_t start, const torch::Tensor& block) {
                              auto [best, which] = block.min(1);
                              best = best.contiguous(), which = which.contiguous();
                              for (int64_t i = 0; i < block.size(0); ++i)
                                if (best.data_ptr<float>()[i] < o.d_p)
                                  r.labels[static_cast<std::size_t>(offset + start + i)] = static_cast<int>(which.data_ptr<int64_t>()[i]);
                            });
  };
  label(queries, 0);
  label(gallery, nq);
  if (o.grow_k > 0) grow_by_mutual_neighbours(ng > 0 ? torch::cat({q, unit_rows(gallery)}) : q, o, r.labels);
  return r;
}

void grow_by_mutual_neighbours(const torch::Tensor& samples, const IdentityMiningOptions& o, std::vector<int>& labels) {
  torch::NoGradGuard no_grad;
  const int64_t n = samples.size(0);
  const int64_t k = std::min<int64_t>(o.grow_k, n - 1);
  if (k <= 0) return;
  // Each sample's k nearest other samples, nearest first.
  std::vector<int64_t> knn(static_cast<std::size_t>(n * k));
  for_each_distance_block(samples, samples, o.distance, block_rows_for(n), [&](int64_t start, const torch::Tensor& block) {
    torch::Tensor d = block.clone();
    for (int64_t i = 0; i < d.size(0); ++i) d[i][start + i] = std::numeric_limits<float>::infinity();  // not itself
    const torch::Tensor idx = std::get<1>(d.topk(k, 1, /*largest=*/false, /*sorted=*/true)).contiguous();
    std::copy(idx.data_ptr<int64_t>(), idx.data_ptr<int64_t>() + idx.numel(), knn.begin() + start * k);
  });
  auto neighbour_of = [&](int64_t a, int64_t b) {  // is b among a's k nearest?
    const int64_t* row = knn.data() + a * k;
    return std::find(row, row + k, b) != row + k;
  };
  for (int round = 0; round < o.grow_rounds; ++round) {
    std::vector<int> next = labels;
    std::size_t added = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (labels[static_cast<std::size_t>(i)] >= 0) continue;
      const int64_t* row = knn.data() + i * k;
      for (int64_t j = 0; j < k; ++j) {
        const int l = labels[static_cast<std::size_t>(row[j])];
        if (l < 0) continue;
        if (neighbour_of(row[j], i)) next[static_cast<std::size_t>(i)] = l, ++added;
        break;  // only the nearest labelled neighbour counts
      }
    }
    labels = std::move(next);
    if (added == 0) break;
  }
}

std::string describe_distances(const torch::Tensor& queries, const torch::Tensor& gallery, DistanceKind kind,
                               std::size_t max_samples, std::uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto sample = [&](const torch::Tensor& x, std::uint64_t salt) {
    if (static_cast<std::size_t>(x.size(0)) <= max_samples) return unit_rows(x);
    Rng rng(derive_seed(seed, {salt}));
    std::vector<int64_t> idx(static_cast<std::size_t>(x.size(0)));
    std::iota(idx.begin(), idx.end(), 0);
    std::shuffle(idx.begin(), idx.end(), rng.engine());
    idx.resize(max_samples);
    return unit_rows(x.index_select(0, torch::tensor(idx, torch::kLong)));
  };
  const torch::Tensor q = sample(queries, 1), g = sample(gallery, 2);
  std::ostringstream out;
  auto line = [&](const char* name, torch::Tensor d, bool skip_diagonal) {
    if (skip_diagonal) d = d.masked_select(~torch::eye(d.size(0), torch::kBool));
    d = d.reshape(-1);
    if (d.numel() == 0) return;
    char buf[256];
    const std::vector<double> ps{0.01, 0.05, 0.25, 0.5, 0.75, 0.95};
    torch::Tensor sorted = std::get<0>(d.sort());
    std::snprintf(buf, sizeof buf, "%-22s", name);
    out << buf;
    for (double p : ps) {
      const auto i = static_cast<int64_t>(p * static_cast<double>(sorted.numel() - 1));
      std::snprintf(buf, sizeof buf, "  p%-2d %.3f", static_cast<int>(p * 100), sorted[i].item<double>());
      out << buf;
    }
    out << "\n";
  };
  out << distance_name(kind) << " distances between L2-normalised features (percentiles):\n";
  torch::Tensor qq = pairwise_distances(q, q, kind);
  line("query-query", qq, true);
  if (g.size(0) > 0) line("query-gallery", pairwise_distances(q, g, kind), false);
  qq.fill_diagonal_(std::numeric_limits<float>::infinity());
  line("query nearest query", std::get<0>(qq.min(1)), false);
  if (g.size(0) > 0) line("query nearest gallery", std::get<0>(pairwise_distances(q, g, kind).min(1)), false);
  return out.str();
}

}  // namespace toonreid
