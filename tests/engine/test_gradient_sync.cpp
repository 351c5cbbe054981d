// The bucketed gradient all-reduce between two ranks (threads of this process): after
// backward every rank holds the mean of both ranks' gradients, whatever the buckets.
#include "engine/gradient_sync.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "two_ranks.h"

namespace toonreid {
namespace {

torch::nn::Sequential make_net() {
  torch::manual_seed(3);
  return torch::nn::Sequential(torch::nn::Linear(6, 5), torch::nn::ReLU(), torch::nn::Linear(5, 4),
                               torch::nn::ReLU(), torch::nn::Linear(4, 2));
}

std::vector<torch::Tensor> grads_of(torch::nn::Sequential& net) {
  std::vector<torch::Tensor> g;
  for (auto& p : net->parameters()) g.push_back(p.grad().clone());
  return g;
}

TEST(GradientAverager, EveryRankGetsTheMeanOfTheRanksGradientsOverSeveralSteps) {
  torch::manual_seed(4);
  const torch::Tensor x = torch::randn({2, 8, 6}), target = torch::randn({2, 8, 2});
  for (std::size_t bucket_bytes : {std::size_t(64), std::size_t(1) << 20}) {  // many buckets, one bucket
    // Reference: the mean of both halves' gradients, computed in one place.
    torch::nn::Sequential net = make_net();
    std::vector<torch::Tensor> expected;
    for (int r = 0; r < 2; ++r) {
      net->zero_grad();
      torch::mse_loss(net->forward(x[r]), target[r]).backward();
      auto g = grads_of(net);
      if (expected.empty()) expected = g;
      else for (std::size_t i = 0; i < g.size(); ++i) expected[i] = (expected[i] + g[i]) / 2;
    }
    // Built here: the ranks' threads would draw from LibTorch's one global generator at once.
    torch::nn::Sequential nets[2] = {make_net(), make_net()};
    auto [g0, g1] = testing::on_two_ranks([&](ProcessGroup& group) {
      torch::nn::Sequential& mine = nets[group.rank()];
      std::vector<std::string> names;
      for (auto& p : mine->named_parameters()) names.push_back(p.key());
      GradientAverager averager(group, mine->parameters(), names, bucket_bytes);
      std::vector<torch::Tensor> result;
      for (int step = 0; step < 2; ++step) {  // the hooks work again in the next step
        mine->zero_grad();
        averager.begin_step();
        torch::mse_loss(mine->forward(x[group.rank()]), target[group.rank()]).backward();
        averager.finish_step();
        result = grads_of(mine);
      }
      return result;
    });
    ASSERT_EQ(g0.size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      EXPECT_TRUE(torch::allclose(g0[i], expected[i], 1e-5, 1e-6)) << "parameter " << i << ", bucket " << bucket_bytes;
      EXPECT_TRUE(torch::equal(g0[i], g1[i])) << "parameter " << i;
    }
  }
}

TEST(GradientAverager, AParameterWithoutAGradientIsNamed) {
  auto [m0, m1] = testing::on_two_ranks([](ProcessGroup& group) {
    torch::nn::Linear used(3, 2), unused(3, 2);
    std::vector<torch::Tensor> params = used->parameters();
    for (auto& p : unused->parameters()) params.push_back(p);
    GradientAverager averager(group, params, {"used.weight", "used.bias", "unused.weight", "unused.bias"}, 1 << 20);
    averager.begin_step();
    used->forward(torch::ones({1, 3})).sum().backward();
    try {
      averager.finish_step();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  });
  EXPECT_NE(m0.find("2 trainable parameter(s) got no gradient this step (unused.weight, unused.bias)"), std::string::npos)
      << m0;
  EXPECT_EQ(m0, m1);
}

}  // namespace
}  // namespace toonreid
