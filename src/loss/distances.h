// Pairwise distances between feature rows, differentiable (used by the losses).
#pragma once

#include <ATen/core/Tensor.h>

namespace toonreid {

// Euclidean distances [N, M] between rows of a [N, D] and b [M, D]; gradients stay
// finite at zero distance (the squared distance is clamped before the square root).
at::Tensor euclidean_distances(const at::Tensor& a, const at::Tensor& b);

}  // namespace toonreid
