// Center loss (Wen et al. 2016) as used by BoT: the mean squared distance between each
// feature and the learned centre of its identity. The centres are a trainable tensor
// [K, D] owned by the trainer (BoT gives them their own SGD optimiser, lr 0.5).
#pragma once

#include <ATen/core/Tensor.h>

namespace toonreid {

at::Tensor center_loss(const at::Tensor& features, const at::Tensor& labels, const at::Tensor& centers);

}  // namespace toonreid
