// The collectives of core/distributed.h between two ranks that are threads of this
// process (Gloo over loopback, as between processes).
#include "core/distributed.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "two_ranks.h"

namespace toonreid {
namespace {

TEST(ProcessGroup, GatherRowsOfUnequalSharesInRankOrder) {
  auto [root, other] = testing::on_two_ranks([](ProcessGroup& g) {
    const at::Tensor mine = g.rank() == 0 ? torch::arange(6, torch::kFloat).view({3, 2})
                                          : torch::full({1, 2}, 9.0f);
    return g.gather_rows(mine, 0);
  });
  ASSERT_TRUE(root.defined());
  EXPECT_TRUE(torch::equal(root, torch::tensor({0.f, 1.f, 2.f, 3.f, 4.f, 5.f, 9.f, 9.f}).view({4, 2})));
  EXPECT_FALSE(other.defined());
}

TEST(ProcessGroup, AllGatherWithGradHandsEachRankTheSumOfItsRowsGradients) {
  // Loss on each rank: sum of (rank + 1) * gathered rows; the gradient of rank r's rows is
  // summed over both ranks' losses: 1 + 2 = 3 everywhere.
  auto [g0, g1] = testing::on_two_ranks([](ProcessGroup& g) {
    at::Tensor x = torch::ones({2, 3}, torch::requires_grad());
    at::Tensor all = all_gather_with_grad(g, x);
    EXPECT_EQ(all.size(0), 4);
    (all * (g.rank() + 1)).sum().backward();
    return x.grad().clone();
  });
  EXPECT_TRUE(torch::allclose(g0, torch::full({2, 3}, 3.0f)));
  EXPECT_TRUE(torch::allclose(g1, torch::full({2, 3}, 3.0f)));
}

TEST(ProcessGroup, BroadcastAndAllReduceOverMixedTensors) {
  auto [a, b] = testing::on_two_ranks([](ProcessGroup& g) {
    std::vector<at::Tensor> t{torch::full({2}, float(g.rank() + 1)), torch::full({3}, float(10 * (g.rank() + 1)))};
    g.all_reduce_sum(t);
    std::vector<at::Tensor> w{torch::full({4}, float(g.rank()))};
    g.broadcast(w, 0);
    return torch::cat({t[0], t[1], w[0]});
  });
  const at::Tensor expected = torch::tensor({3.f, 3.f, 30.f, 30.f, 30.f, 0.f, 0.f, 0.f, 0.f});
  EXPECT_TRUE(torch::equal(a, expected));
  EXPECT_TRUE(torch::equal(b, expected));
}

}  // namespace
}  // namespace toonreid
