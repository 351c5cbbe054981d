// BatchNorm over [N, C] or [N, C, H, W], with torch's parameter and buffer names
// (weight, bias, running_mean, running_var, num_batches_tracked) and semantics
// (biased batch variance for normalising, unbiased for the running estimate), that can
// take its training statistics over the global batch of a data-parallel job
// (SyncBatchNorm): each rank's per-channel sums are all-reduced, and so are their
// gradients, so N ranks normalise exactly as one process with the whole batch would.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

namespace toonreid {

class ProcessGroup;

class BatchNormImpl : public torch::nn::Module {
 public:
  explicit BatchNormImpl(int64_t features, double eps = 1e-5, double momentum = 0.1);
  torch::Tensor forward(const torch::Tensor& x);
  // Training statistics over every rank of `group` (nullptr: this process's batch only).
  void synchronize_over(ProcessGroup* group) { group_ = group; }

  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  torch::Tensor synchronized_forward(const torch::Tensor& x);
  int64_t features_;
  double eps_, momentum_;
  ProcessGroup* group_ = nullptr;
};
TORCH_MODULE(BatchNorm);

}  // namespace toonreid
