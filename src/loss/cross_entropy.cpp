#include "loss/cross_entropy.h"

#include <ATen/ATen.h>

#include "core/error.h"

namespace toonreid {

at::Tensor cross_entropy_label_smoothing(const at::Tensor& logits, const at::Tensor& labels, double eps) {
  if (logits.dim() != 2 || labels.dim() != 1 || labels.size(0) != logits.size(0))
    throw Error("cross_entropy_label_smoothing: expects logits [N, K] and labels [N]");
  if (eps < 0 || eps >= 1) throw Error("cross_entropy_label_smoothing: eps must be in [0, 1)");
  const auto k = static_cast<double>(logits.size(1));
  at::Tensor log_probs = at::log_softmax(logits, 1);
  at::Tensor true_class = -log_probs.gather(1, labels.unsqueeze(1)).squeeze(1);  // [N]
  at::Tensor uniform = -log_probs.sum(1) / k;                                   // [N]
  return ((1.0 - eps) * true_class + eps * uniform).mean();
}

}  // namespace toonreid
