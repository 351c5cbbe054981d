#include "loss/margin_softmax.h"

#include <torch/torch.h>

#include <cmath>

#include "core/error.h"
#include "loss/cross_entropy.h"

namespace toonreid {

MarginLoss parse_margin_loss(const std::string& name) {
  if (name == "cosface") return MarginLoss::CosFace;
  if (name == "arcface") return MarginLoss::ArcFace;
  if (name == "circle") return MarginLoss::Circle;
  throw ConfigError("unknown margin loss '" + name + "' (expected cosface, arcface or circle)");
}

at::Tensor margin_logits(const at::Tensor& cosines, const at::Tensor& labels, MarginLoss kind, double s, double m) {
  const at::Tensor cos = cosines.clamp(-1.0, 1.0);
  const at::Tensor target = torch::zeros_like(cos, torch::kBool).scatter_(1, labels.view({-1, 1}), true);
  switch (kind) {
    case MarginLoss::CosFace:
      return s * torch::where(target, cos - m, cos);
    case MarginLoss::ArcFace: {
      // cos(theta + m) = cos cos m - sin sin m; beyond theta + m > pi it would rise again,
      // so there the usual linear extension cos - m sin m takes over (as in InsightFace).
      const at::Tensor sin = torch::sqrt((1.0 - cos * cos).clamp_min(1e-12));
      at::Tensor with_margin = cos * std::cos(m) - sin * std::sin(m);
      with_margin = torch::where(cos > std::cos(M_PI - m), with_margin, cos - std::sin(M_PI - m) * m);
      return s * torch::where(target, with_margin, cos);
    }
    case MarginLoss::Circle: {
      // Weights are not differentiated through (the paper's stop-gradient).
      const at::Tensor ap = (1.0 + m - cos.detach()).clamp_min(0.0);
      const at::Tensor an = (cos.detach() + m).clamp_min(0.0);
      return s * torch::where(target, ap * (cos - (1.0 - m)), an * (cos - m));
    }
  }
  throw Error("margin_logits: unknown kind");
}

at::Tensor margin_softmax_loss(const at::Tensor& cosines, const at::Tensor& labels, MarginLoss kind, double s, double m,
                               double eps) {
  return cross_entropy_label_smoothing(margin_logits(cosines, labels, kind, s, m), labels, eps);
}

}  // namespace toonreid
