// Identity (classification) loss: cross-entropy with label smoothing (Szegedy et al.
// 2016), as in BoT: the target puts 1 - eps on the true class and eps / K on each class.
#pragma once

#include <ATen/core/Tensor.h>

namespace toonreid {

// logits [N, K], labels int64 [N] in [0, K); eps in [0, 1). Returns the mean loss.
at::Tensor cross_entropy_label_smoothing(const at::Tensor& logits, const at::Tensor& labels, double eps = 0.1);

}  // namespace toonreid
