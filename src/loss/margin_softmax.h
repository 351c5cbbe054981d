// Margin-based softmax losses of face recognition, on cosine logits cos(theta_k) between
// L2-normalised features and L2-normalised class weights (the head's cosine classifier):
//
//   CosFace (Wang et al. 2018):  s * (cos(theta_y) - m)            for the true class
//   ArcFace (Deng et al. 2019):  s * cos(theta_y + m)              for the true class
//   Circle  (Sun et al. 2020), class-level, with O_p = 1 + m, O_n = -m, D_p = 1 - m, D_n = m:
//     true class  s * [O_p - cos]_+ * (cos - D_p),  other classes  s * [cos - O_n]_+ * (cos - D_n)
//
// every other class keeping s * cos(theta_k), then cross-entropy (label smoothing eps).
// Pure tensor functions: cosines [N, K] in [-1, 1], labels int64 [N].
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

namespace toonreid {

enum class MarginLoss { CosFace, ArcFace, Circle };
MarginLoss parse_margin_loss(const std::string& name);  // cosface | arcface | circle

// The logits fed to the softmax (exposed for tests).
at::Tensor margin_logits(const at::Tensor& cosines, const at::Tensor& labels, MarginLoss kind, double scale,
                         double margin);
// Mean cross-entropy of margin_logits with label smoothing eps.
at::Tensor margin_softmax_loss(const at::Tensor& cosines, const at::Tensor& labels, MarginLoss kind, double scale,
                               double margin, double eps = 0.0);

}  // namespace toonreid
