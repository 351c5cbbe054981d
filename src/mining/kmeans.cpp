#include "mining/kmeans.h"

#include <algorithm>
#include <limits>

#include "core/error.h"
#include "core/random.h"
#include "retrieval/distance.h"

namespace toonreid {

namespace {

// Squared Euclidean distance of every sample to its nearest centroid, and which one.
void assign(const torch::Tensor& x, const torch::Tensor& c, std::vector<int>& labels, std::vector<float>& d2) {
  labels.resize(static_cast<std::size_t>(x.size(0)));
  d2.resize(static_cast<std::size_t>(x.size(0)));
  for_each_distance_block(x, c, DistanceKind::Euclidean, block_rows_for(c.size(0)), [&](int64_t start, const torch::Tensor& b) {
    auto [best, which] = b.min(1);
    best = best.contiguous(), which = which.contiguous();
    for (int64_t i = 0; i < b.size(0); ++i) {
      labels[static_cast<std::size_t>(start + i)] = static_cast<int>(which.data_ptr<int64_t>()[i]);
      const float v = best.data_ptr<float>()[i];
      d2[static_cast<std::size_t>(start + i)] = v * v;
    }
  });
}

}  // namespace

KMeansResult kmeans(const torch::Tensor& samples, const KMeansOptions& o) {
  if (samples.dim() != 2 || samples.size(0) == 0) throw Error("k-means: no samples");
  if (o.k < 1 || o.k > samples.size(0))
    throw Error("k-means: k = " + std::to_string(o.k) + " for " + std::to_string(samples.size(0)) + " samples");
  torch::NoGradGuard no_grad;
  torch::Tensor x = samples.to(torch::kFloat);
  x = (x / x.norm(2, 1, true).clamp_min(1e-12)).contiguous();
  const int64_t n = x.size(0);
  Rng rng(o.seed);

  // k-means++: each new centre drawn with probability proportional to D^2.
  std::vector<int64_t> chosen{rng.integer(0, n - 1)};
  std::vector<float> d2(static_cast<std::size_t>(n), std::numeric_limits<float>::infinity());
  while (static_cast<int>(chosen.size()) < o.k) {
    const torch::Tensor row = pairwise_distances(x.narrow(0, chosen.back(), 1), x, DistanceKind::Euclidean).contiguous();
    double total = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float v = row.data_ptr<float>()[i];
      d2[static_cast<std::size_t>(i)] = std::min(d2[static_cast<std::size_t>(i)], v * v);
      total += d2[static_cast<std::size_t>(i)];
    }
    int64_t pick = -1;
    if (total > 0) {
      double u = rng.uniform(0, total);
      for (int64_t i = 0; i < n && pick < 0; ++i)
        if ((u -= d2[static_cast<std::size_t>(i)]) <= 0 && d2[static_cast<std::size_t>(i)] > 0) pick = i;
    }
    if (pick < 0)  // all remaining samples coincide with centres: any unchosen one
      for (int64_t i = 0; i < n && pick < 0; ++i)
        if (std::find(chosen.begin(), chosen.end(), i) == chosen.end()) pick = i;
    chosen.push_back(pick);
  }
  KMeansResult r;
  r.centroids = x.index_select(0, torch::tensor(chosen, torch::kLong)).clone();

  std::vector<int> previous;
  std::vector<float> dist2;
  for (r.iterations = 1; r.iterations <= o.max_iterations; ++r.iterations) {
    assign(x, r.centroids, r.labels, dist2);
    if (r.labels == previous) break;
    previous = r.labels;
    torch::Tensor sums = torch::zeros_like(r.centroids);
    torch::Tensor counts = torch::zeros({o.k}, torch::kFloat);
    const torch::Tensor idx = torch::tensor(std::vector<int64_t>(r.labels.begin(), r.labels.end()), torch::kLong);
    sums.index_add_(0, idx, x);
    counts.index_add_(0, idx, torch::ones({n}));
    for (int c = 0; c < o.k; ++c) {
      if (counts[c].item<float>() > 0) {
        r.centroids[c] = sums[c] / counts[c];
      } else {  // empty cluster: restart it at the sample farthest from its centre
        const auto far = std::max_element(dist2.begin(), dist2.end()) - dist2.begin();
        r.centroids[c] = x[far];
        dist2[static_cast<std::size_t>(far)] = 0;
      }
    }
  }
  r.iterations = std::min(r.iterations, o.max_iterations);
  assign(x, r.centroids, r.labels, dist2);
  r.inertia = 0;
  for (float v : dist2) r.inertia += v;
  return r;
}

}  // namespace toonreid
