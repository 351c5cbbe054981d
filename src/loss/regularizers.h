// Fine-tuning without forgetting: terms that hold a network near what it knew before.
//
//   L2-SP (Li et al. 2018): sum over weights of ||w - w0||^2, w0 the starting
//     (pretrained) weights, in place of weight decay towards zero.
//   Feature distillation: mean over the batch of 1 - cos(f, f0), f the network's
//     embedding and f0 the frozen starting network's embedding of the same images.
//
// Pure tensor functions.
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

namespace toonreid {

// params and anchors pair up by position and shape; anchors carry no gradient.
at::Tensor l2_sp_penalty(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& anchors);

// student, teacher: [N, D]; the teacher is not differentiated.
at::Tensor feature_distillation_loss(const at::Tensor& student, const at::Tensor& teacher);

}  // namespace toonreid
