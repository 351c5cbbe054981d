// k-means on L2-normalised features (k-means++ initialisation, Lloyd iterations with
// blockwise matrix products): the pseudo-labelling baseline Identity Mining must beat.
// Every sample gets a label.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace toonreid {

struct KMeansOptions {
  int k = 100;
  int max_iterations = 50;
  std::uint64_t seed = 0;
};

struct KMeansResult {
  torch::Tensor centroids;  // [k, D]
  std::vector<int> labels;  // per sample, 0..k-1
  double inertia = 0;       // sum of squared distances to the assigned centroid
  int iterations = 0;       // Lloyd iterations run (stops early when nothing moves)
};

KMeansResult kmeans(const torch::Tensor& samples, const KMeansOptions& options);

}  // namespace toonreid
