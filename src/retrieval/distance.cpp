#include "retrieval/distance.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace toonreid {

const std::vector<std::string>& distance_names() {
  static const std::vector<std::string> names{"euclidean", "cosine", "angular"};
  return names;
}

DistanceKind parse_distance(const std::string& name) {
  if (name == "euclidean") return DistanceKind::Euclidean;
  if (name == "cosine") return DistanceKind::Cosine;
  if (name == "angular") return DistanceKind::Angular;
  throw Error("unknown distance '" + name + "' (euclidean, cosine or angular)");
}

std::string distance_name(DistanceKind kind) {
  switch (kind) {
    case DistanceKind::Euclidean: return "euclidean";
    case DistanceKind::Cosine: return "cosine";
    case DistanceKind::Angular: return "angular";
  }
  return "?";
}

int64_t block_rows_for(int64_t columns, int64_t bytes) {
  return std::max<int64_t>(1, bytes / (4 * std::max<int64_t>(1, columns)));
}

namespace {

void check_features(const torch::Tensor& q, const torch::Tensor& g) {
  if (q.dim() != 2 || g.dim() != 2) throw Error("distances: features must be [N, D] matrices");
  if (q.size(1) != g.size(1))
    throw Error("distances: query features have " + std::to_string(q.size(1)) + " dimensions, gallery features " +
                std::to_string(g.size(1)));
}

torch::Tensor unit_rows(const torch::Tensor& x) { return x / x.norm(2, 1, true).clamp_min(1e-12); }

}  // namespace

void for_each_distance_block(const torch::Tensor& queries, const torch::Tensor& gallery, DistanceKind kind,
                             int64_t block_rows, const std::function<void(int64_t, const torch::Tensor&)>& fn) {
  check_features(queries, gallery);
  torch::NoGradGuard no_grad;
  torch::Tensor q = queries.to(torch::kFloat).contiguous(), g = gallery.to(torch::kFloat).contiguous();
  torch::Tensor g_norm2;  // Euclidean: |g|^2 once for all blocks
  if (kind == DistanceKind::Euclidean) g_norm2 = g.pow(2).sum(1).unsqueeze(0);
  else g = unit_rows(g);
  const torch::Tensor gt = g.t();
  block_rows = std::max<int64_t>(1, block_rows);
  for (int64_t start = 0; start < q.size(0); start += block_rows) {
    torch::Tensor qb = q.narrow(0, start, std::min(block_rows, q.size(0) - start));
    torch::Tensor block;
    if (kind == DistanceKind::Euclidean) {
      // |q|^2 + |g|^2 - 2 q.g, in place on the product to avoid three block-sized temporaries.
      block = torch::addmm(g_norm2, qb, gt, 1.0, -2.0);
      block.add_(qb.pow(2).sum(1, true)).clamp_min_(0).sqrt_();
    } else {
      block = torch::mm(unit_rows(qb), gt);
      if (kind == DistanceKind::Cosine) block.neg_().add_(1.0);
      else block.clamp_(-1.0, 1.0).acos_();
    }
    fn(start, block);
  }
}

torch::Tensor pairwise_distances(const torch::Tensor& queries, const torch::Tensor& gallery, DistanceKind kind) {
  check_features(queries, gallery);
  torch::Tensor out = torch::empty({queries.size(0), gallery.size(0)}, torch::kFloat);
  for_each_distance_block(queries, gallery, kind, block_rows_for(gallery.size(0)),
                          [&](int64_t start, const torch::Tensor& block) { out.narrow(0, start, block.size(0)).copy_(block); });
  return out;
}

float pair_distance(const float* a, const float* b, int64_t dim, DistanceKind kind) {
  if (kind == DistanceKind::Euclidean) {
    double s = 0;
    for (int64_t i = 0; i < dim; ++i) {
      const double d = static_cast<double>(a[i]) - b[i];
      s += d * d;
    }
    return static_cast<float>(std::sqrt(s));
  }
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < dim; ++i) ab += static_cast<double>(a[i]) * b[i], aa += static_cast<double>(a[i]) * a[i],
                                    bb += static_cast<double>(b[i]) * b[i];
  const double c = std::clamp(ab / std::max(std::sqrt(aa) * std::sqrt(bb), 1e-12), -1.0, 1.0);
  return static_cast<float>(kind == DistanceKind::Cosine ? 1.0 - c : std::acos(c));
}

}  // namespace toonreid
