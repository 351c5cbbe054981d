// toonreid launch --nproc N [--nnodes M --node-rank R --master-addr A --master-port P] -- COMMAND ...
#include <filesystem>

#include "cli/commands.h"
#include "core/process_launch.h"

namespace toonreid::cli {

void add_launch_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "launch", "Run a command as the processes of a data-parallel job (like torchrun): toonreid launch --nproc 2 -- "
                "train --config C");
  struct Args {
    LaunchOptions options;
    std::vector<std::string> command;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--nproc", args->options.nproc, "Processes on this machine (one per GPU, or CPU share)")->required();
  cmd->add_option("--nnodes", args->options.nnodes, "Machines in the job")->capture_default_str();
  cmd->add_option("--node-rank", args->options.node_rank, "This machine's index, 0 on the one with MASTER_ADDR")
      ->capture_default_str();
  cmd->add_option("--master-addr", args->options.master_addr, "Address of node 0 (hosts the rendezvous store)")
      ->capture_default_str();
  cmd->add_option("--master-port", args->options.master_port, "Port of the rendezvous store on node 0")
      ->capture_default_str();
  cmd->add_option("--grace", args->options.grace_s, "Seconds the others get to stop after a failure before SIGKILL")
      ->capture_default_str();
  cmd->add_option("command", args->command, "The toonreid command each process runs, after --")->required();
  cmd->callback([args, &ctx] {
    const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
    ctx.exit_code = launch_local_ranks(self, args->command, args->options);
  });
}

}  // namespace toonreid::cli
