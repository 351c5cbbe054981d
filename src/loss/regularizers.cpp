#include "loss/regularizers.h"

#include <torch/torch.h>

#include "core/error.h"

namespace toonreid {

at::Tensor l2_sp_penalty(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& anchors) {
  if (params.size() != anchors.size())
    throw Error("l2_sp_penalty: " + std::to_string(params.size()) + " parameters but " + std::to_string(anchors.size()) +
                " anchors");
  if (params.empty()) return torch::zeros({});
  at::Tensor total = torch::zeros({}, params.front().options());
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (!params[i].sizes().equals(anchors[i].sizes()))
      throw Error("l2_sp_penalty: parameter " + std::to_string(i) + " has shape " + c10::str(params[i].sizes()) +
                  ", its anchor " + c10::str(anchors[i].sizes()));
    total = total + (params[i] - anchors[i].detach()).pow(2).sum();
  }
  return total;
}

at::Tensor feature_distillation_loss(const at::Tensor& student, const at::Tensor& teacher) {
  if (!student.sizes().equals(teacher.sizes()))
    throw Error("feature_distillation_loss: student " + c10::str(student.sizes()) + " vs teacher " + c10::str(teacher.sizes()));
  return (1.0 - torch::cosine_similarity(student, teacher.detach(), 1, 1e-8)).mean();
}

}  // namespace toonreid
