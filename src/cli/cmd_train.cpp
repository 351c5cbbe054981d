// toonreid train --config C [key=value ...] [--resume CHECKPOINT|RUN_DIR] [--output DIR]
#include <iostream>

#include "cli/commands.h"
#include "cli/run_setup.h"
#include "cli/training_run.h"

namespace toonreid::cli {

void add_train_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("train", "Train a model; prints the final checkpoint's path as the last line");
  struct Args {
    std::string config, resume, output;
    std::vector<std::string> overrides;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--config", args->config, "YAML config")->required()->check(CLI::ExistingFile);
  cmd->add_option("overrides", args->overrides, "Config overrides key.sub=value");
  cmd->add_option("--resume", args->resume, "Continue from a checkpoint, or a run folder's checkpoints/last.pt");
  cmd->add_option("--output", args->output, "Run folder (default: run.output_dir)");
  cmd->callback([args, &ctx] {
    RunSetup run(args->config, args->overrides);
    const std::filesystem::path out = args->output.empty() ? run.config().get_string("run.output_dir") : args->output;
    std::cout << run_training(run, out, args->resume, ctx.show_progress()).string() << std::endl;
  });
}

}  // namespace toonreid::cli
