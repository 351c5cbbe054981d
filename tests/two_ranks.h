// Two ranks of a data-parallel job as two threads of the test process (Gloo over
// loopback, as between processes): for testing collectives and what uses them.
#pragma once

#include <future>
#include <utility>

#include "core/distributed.h"
#include "test_util.h"

namespace toonreid::testing {

// Runs `body(group)` as ranks 0 and 1 on two threads; returns their results.
template <class F>
auto on_two_ranks(F body) {
  const int port = testing::free_port();
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

}  // namespace toonreid::testing
