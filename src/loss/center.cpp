#include "loss/center.h"

#include <ATen/ATen.h>

#include "core/error.h"

namespace toonreid {

at::Tensor center_loss(const at::Tensor& features, const at::Tensor& labels, const at::Tensor& centers) {
  if (features.dim() != 2 || centers.dim() != 2 || features.size(1) != centers.size(1) ||
      labels.size(0) != features.size(0))
    throw Error("center_loss: expects features [N, D], labels [N] and centres [K, D]");
  at::Tensor own = centers.index_select(0, labels);
  return (features - own).pow(2).sum(1).clamp(1e-12, 1e12).mean();
}

}  // namespace toonreid
