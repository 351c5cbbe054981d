// Where this process stands in a data-parallel job, from torchrun's environment
// variables (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT).
// Light: no LibTorch; core/distributed.h joins the job.
#pragma once

#include <optional>
#include <string>

#include "core/error.h"

namespace toonreid {

// A rank left, a rendezvous did not complete, or a collective failed or timed out.
class DistributedError : public Error {
 public:
  using Error::Error;
};

// This process's place in a job, from torchrun's environment variables.
struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};

// The job this process belongs to, or nothing when WORLD_SIZE is unset or 1 (a single
// process). Throws DistributedError naming the variable when one is malformed.
std::optional<DistEnv> dist_env_from_environment();

}  // namespace toonreid
