#include "retrieval/ensemble.h"

#include <cmath>

#include "core/error.h"

namespace toonreid {

MatrixNormalization parse_normalization(const std::string& name) {
  if (name == "none") return MatrixNormalization::None;
  if (name == "minmax") return MatrixNormalization::MinMax;
  if (name == "zscore") return MatrixNormalization::ZScore;
  throw Error("unknown normalisation '" + name + "' (none, minmax or zscore)");
}

namespace {

std::vector<double> checked_weights(std::size_t count, const std::vector<double>& weights) {
  if (count == 0) throw Error("ensemble: no models given");
  if (!weights.empty() && weights.size() != count)
    throw Error("ensemble: " + std::to_string(weights.size()) + " weights for " + std::to_string(count) + " models");
  std::vector<double> w = weights.empty() ? std::vector<double>(count, 1.0) : weights;
  double sum = 0;
  for (double x : w) {
    if (!(x >= 0) || !std::isfinite(x)) throw Error("ensemble: weights must be finite and non-negative");
    sum += x;
  }
  if (sum <= 0) throw Error("ensemble: the weights sum to zero");
  for (double& x : w) x /= sum;
  return w;
}

}  // namespace

torch::Tensor combine_distances(const std::vector<torch::Tensor>& matrices, const std::vector<double>& weights,
                                MatrixNormalization normalization) {
  const std::vector<double> w = checked_weights(matrices.size(), weights);
  torch::NoGradGuard no_grad;
  torch::Tensor out;
  for (std::size_t i = 0; i < matrices.size(); ++i) {
    if (matrices[i].sizes() != matrices[0].sizes())
      throw Error("ensemble: distance matrix " + std::to_string(i + 1) + " has another shape than the first");
    torch::Tensor d = matrices[i].to(torch::kFloat);
    if (normalization == MatrixNormalization::MinMax) {
      const double lo = d.min().item<double>(), hi = d.max().item<double>();
      d = (d - lo) / std::max(hi - lo, 1e-12);
    } else if (normalization == MatrixNormalization::ZScore) {
      const double mean = d.mean().item<double>(), sd = d.std().item<double>();
      d = (d - mean) / std::max(sd, 1e-12);
    }
    out = i == 0 ? d * w[i] : out.add_(d, w[i]);
  }
  return out;
}

torch::Tensor combine_features(const std::vector<torch::Tensor>& features, const std::vector<double>& weights) {
  const std::vector<double> w = checked_weights(features.size(), weights);
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (std::size_t i = 0; i < features.size(); ++i) {
    if (features[i].dim() != 2 || features[i].size(0) != features[0].size(0))
      throw Error("ensemble: feature set " + std::to_string(i + 1) + " does not have one row per sample like the first");
    torch::Tensor f = features[i].to(torch::kFloat);
    parts.push_back(f / f.norm(2, 1, true).clamp_min(1e-12) * std::sqrt(w[i]));
  }
  return torch::cat(parts, 1);
}

}  // namespace toonreid
