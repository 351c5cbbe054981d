// The collectives of core/distributed.h between two ranks that are threads of this
// process (Gloo over loopback, as between processes).
#include "core/distributed.h"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>

#include <torch/torch.h>

namespace toonreid {
namespace {

int free_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  return ntohs(a.sin_port);
}

// Runs `body(group)` as ranks 0 and 1 on two threads; returns their results.
template <class F>
auto on_two_ranks(F body) {
  const int port = free_port();
  auto rank = [&](int r) {
    DistEnv env;
    env.rank = r, env.world_size = 2, env.local_rank = r, env.local_world_size = 2, env.master_port = port;
    DistOptions o;
    o.timeout_s = 30, o.rendezvous_timeout_s = 30;
    auto group = ProcessGroup::connect(env, o, false);
    auto result = body(*group);
    group->finish();
    return result;
  };
  auto second = std::async(std::launch::async, rank, 1);
  auto first = rank(0);
  return std::make_pair(first, second.get());
}

TEST(ProcessGroup, GatherRowsOfUnequalSharesInRankOrder) {
  auto [root, other] = on_two_ranks([](ProcessGroup& g) {
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
  auto [g0, g1] = on_two_ranks([](ProcessGroup& g) {
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
  auto [a, b] = on_two_ranks([](ProcessGroup& g) {
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
