// toonreid launch: starts the local processes of a data-parallel job as torchrun does,
// each with RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR and
// MASTER_PORT set; forwards SIGINT, SIGTERM and SIGHUP to them; and when one fails
// (non-zero exit or a signal), stops the others (SIGTERM, SIGKILL after a grace period)
// and reports that first failure's exit status.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace toonreid {

struct LaunchOptions {
  int nproc = 1;      // processes on this machine
  int nnodes = 1;     // machines in the job
  int node_rank = 0;  // this machine's place among them
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  double grace_s = 15;  // after the first failure, SIGTERM's grace before SIGKILL
};

// Runs `program` with `args` as ranks node_rank * nproc ... + nproc - 1 and waits for
// them. Returns 0 when all succeed, else the first failure's exit code (128 + signal
// number for a signal). Throws Error for invalid options or when a process cannot start.
int launch_local_ranks(const std::string& program, const std::vector<std::string>& args, const LaunchOptions& options);

// Runs `program` (looked up in PATH when it has no slash) with `args`, this process's
// environment with `environment`'s entries set over it, and waits for it. Returns its exit
// code (128 + signal number for a signal; 127 when it cannot be executed).
int run_program(const std::string& program, const std::vector<std::string>& args,
                const std::map<std::string, std::string>& environment = {});

}  // namespace toonreid
