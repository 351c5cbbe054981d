#include "model/batch_norm.h"

#include <ATen/Context.h>

#include "core/distributed.h"
#include "core/error.h"

namespace toonreid {

BatchNormImpl::BatchNormImpl(int64_t features, double eps, double momentum)
    : features_(features), eps_(eps), momentum_(momentum) {
  weight = register_parameter("weight", torch::ones({features}));
  bias = register_parameter("bias", torch::zeros({features}));
  running_mean = register_buffer("running_mean", torch::zeros({features}));
  running_var = register_buffer("running_var", torch::ones({features}));
  num_batches_tracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kLong));
}

torch::Tensor BatchNormImpl::forward(const torch::Tensor& x) {
  if ((x.dim() != 2 && x.dim() != 4) || x.size(1) != features_)
    throw Error("BatchNorm of " + std::to_string(features_) + " channels got input of shape " + c10::str(x.sizes()));
  if (!is_training()) {
    return torch::batch_norm(x, weight, bias, running_mean, running_var, false, momentum_, eps_,
                             at::globalContext().userEnabledCuDNN());
  }
  {
    torch::NoGradGuard no_grad;
    num_batches_tracked += 1;
  }
  if (group_ && group_->size() > 1) return synchronized_forward(x);
  return torch::batch_norm(x, weight, bias, running_mean, running_var, true, momentum_, eps_,
                           at::globalContext().userEnabledCuDNN());
}

torch::Tensor BatchNormImpl::synchronized_forward(const torch::Tensor& x) {
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  std::vector<int64_t> shape(static_cast<std::size_t>(x.dim()), 1);
  shape[1] = features_;
  // Each rank's exact (two-pass) mean and variance become count-weighted sums, in double
  // so that the global E[x^2] - mean^2 loses nothing to cancellation.
  const double n = static_cast<double>(x.numel() / features_);
  auto [var, mean] = torch::var_mean(x, dims, /*unbiased=*/false);
  torch::Tensor local = torch::cat({mean * n, (var + mean * mean) * n}).to(torch::kDouble);
  local = torch::cat({local, torch::full({1}, n, local.options())});
  torch::Tensor global = all_reduce_sum_with_grad(*group_, local);
  torch::Tensor count = global[2 * features_].detach();
  torch::Tensor g_mean = global.narrow(0, 0, features_) / count;
  torch::Tensor g_var = (global.narrow(0, features_, features_) / count - g_mean * g_mean).clamp_min(0);
  {
    torch::NoGradGuard no_grad;
    const double total = count.item<double>();
    running_mean.mul_(1 - momentum_).add_(g_mean.to(running_mean.dtype()), momentum_);
    running_var.mul_(1 - momentum_).add_((g_var * (total / std::max(1.0, total - 1))).to(running_var.dtype()), momentum_);
  }
  torch::Tensor scale = (torch::rsqrt(g_var + eps_)).to(x.scalar_type());
  return (x - g_mean.to(x.scalar_type()).view(shape)) * (scale * weight).view(shape) + bias.view(shape);
}

}  // namespace toonreid
