// BatchNorm: torch's semantics in one process, and with its statistics synchronised over
// two ranks it normalises, back-propagates and tracks running statistics exactly as one
// process with both ranks' rows would.
#include "model/batch_norm.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "two_ranks.h"

namespace toonreid {
namespace {

TEST(BatchNorm, MatchesTorchsBatchNormInTrainingAndEvaluation) {
  torch::manual_seed(0);
  BatchNorm ours(4);
  torch::nn::BatchNorm2d theirs(4);
  const torch::Tensor x = torch::randn({6, 4, 3, 3}) * 2 + 1;
  for (int step = 0; step < 3; ++step) EXPECT_TRUE(torch::allclose(ours->forward(x), theirs->forward(x), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(ours->running_var, theirs->running_var));
  EXPECT_EQ(ours->num_batches_tracked.item<int64_t>(), 3);
  ours->eval(), theirs->eval();
  EXPECT_TRUE(torch::allclose(ours->forward(x), theirs->forward(x), 1e-5, 1e-5));
  EXPECT_THROW(ours->forward(torch::zeros({2, 3})), Error);
}

struct Outcome {
  torch::Tensor y, x_grad, weight_grad, running_mean, running_var;
};

// y = bn(x) and the gradients of sum(y * probe).
Outcome run(BatchNorm& bn, const torch::Tensor& x_in, const torch::Tensor& probe) {
  torch::Tensor x = x_in.clone().requires_grad_(true);
  torch::Tensor y = bn->forward(x);
  (y * probe).sum().backward();
  return {y.detach(), x.grad(), bn->weight.grad().clone(), bn->running_mean.clone(), bn->running_var.clone()};
}

TEST(BatchNorm, SynchronisedOverTwoRanksEqualsOneProcessWithTheWholeBatch) {
  torch::manual_seed(1);
  const torch::Tensor x = torch::randn({8, 3, 4, 4}) * 3 - 1, probe = torch::randn({8, 3, 4, 4});
  auto fresh = [] {
    BatchNorm bn(3);
    torch::NoGradGuard no_grad;
    bn->weight.copy_(torch::tensor({0.5f, 1.5f, -1.0f}));
    return bn;
  };
  BatchNorm whole = fresh();
  const Outcome one = run(whole, x, probe);
  auto [r0, r1] = testing::on_two_ranks([&](ProcessGroup& group) {
    BatchNorm bn = fresh();
    bn->synchronize_over(&group);
    return run(bn, x.narrow(0, 4 * group.rank(), 4), probe.narrow(0, 4 * group.rank(), 4));
  });
  EXPECT_TRUE(torch::allclose(torch::cat({r0.y, r1.y}), one.y, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(torch::cat({r0.x_grad, r1.x_grad}), one.x_grad, 1e-5, 1e-5));
  // Parameter gradients are per rank; summed over ranks they are the whole batch's.
  EXPECT_TRUE(torch::allclose(r0.weight_grad + r1.weight_grad, one.weight_grad, 1e-4, 1e-5));
  for (const Outcome* r : {&r0, &r1}) {
    EXPECT_TRUE(torch::allclose(r->running_mean, one.running_mean, 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(r->running_var, one.running_var, 1e-5, 1e-6));
  }
}

}  // namespace
}  // namespace toonreid
