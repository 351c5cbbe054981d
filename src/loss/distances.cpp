#include "loss/distances.h"

#include <ATen/ATen.h>

namespace toonreid {

at::Tensor euclidean_distances(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor aa = a.pow(2).sum(1, true);            // [N, 1]
  at::Tensor bb = b.pow(2).sum(1, true).t();        // [1, M]
  at::Tensor d2 = at::addmm(aa + bb, a, b.t(), 1, -2);
  return d2.clamp_min(1e-12).sqrt();
}

}  // namespace toonreid
