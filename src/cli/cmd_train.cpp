// toonreid train --config C [key=value ...] [--output DIR]
// toonreid train --resume RUN_DIR [--config C] [key=value ...]   (the run's own config.yaml)
// toonreid train --config C --resume CHECKPOINT [key=value ...]
// toonreid interpolate --weights CKPT --alpha A --out OUT.pt [--start CKPT]
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "core/error.h"
#include "model/weight_interpolation.h"
#include "recipe/training_run.h"
#include "toonreid_schema.h"

namespace toonreid::cli {

void add_train_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("train", "Train a model; prints the final checkpoint's path as the last line");
  struct Args {
    std::string config, resume, output;
    std::vector<std::string> overrides;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--config", args->config, "YAML config (optional with --resume RUN_DIR: the run's config.yaml)")
      ->check(CLI::ExistingFile);
  cmd->add_option("overrides", args->overrides, "Config overrides key.sub=value");
  cmd->add_option("--resume", args->resume,
                  "Continue a run folder with its own config.yaml (a --config or override must agree with it), "
                  "or start from a checkpoint's state with --config");
  cmd->add_option("--output", args->output, "Run folder (default: run.output_dir)");
  cmd->callback([args, &ctx] {
    const bool run_folder = !args->resume.empty() && std::filesystem::is_directory(args->resume);
    if (run_folder && !args->output.empty() && std::filesystem::path(args->output) != std::filesystem::path(args->resume))
      throw Error("--output: a resumed run stays in its folder " + args->resume);
    if (!run_folder && args->config.empty())
      throw Error(args->resume.empty() ? "--config is required (or --resume RUN_DIR)"
                                       : "--resume " + args->resume + " is a checkpoint file: --config is required with it");
    RunSetup run = run_folder ? RunSetup::resuming(args->resume, args->config, args->overrides)
                              : RunSetup(args->config, args->overrides);
    run.join_job();  // under toonreid launch / torchrun: data-parallel
    const std::filesystem::path out =
        run_folder ? args->resume : args->output.empty() ? run.config().get_string("run.output_dir") : args->output;
    const std::filesystem::path final_checkpoint = run_training(run, out, args->resume, ctx.show_progress());
    run.finish_job();
    if (run.is_main()) std::cout << final_checkpoint.string() << std::endl;
  });
}

void add_interpolate_command(CLI::App& app, Context&) {
  auto* cmd = app.add_subcommand(
      "interpolate", "A fine-tuned checkpoint's weights moved toward its starting network (WiSE-FT): w0 + alpha (w - w0)");
  struct Args {
    std::string weights, start, out;
    double alpha = 0.5;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--weights", args->weights, "The fine-tuned checkpoint")->required()->check(CLI::ExistingFile);
  cmd->add_option("--alpha", args->alpha, "1: the fine-tuned weights, 0: the starting ones (choose on validation)")
      ->required()->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--start", args->start,
                  "Starting checkpoint (default: the starting weights stored in --weights, else its model.pretrained)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", args->out, "The new checkpoint")->required();
  cmd->callback([args] {
    const ConfigSchema schema = toonreid_schema();
    const InterpolationResult r = interpolate_checkpoint(args->weights, args->alpha, args->out, schema, args->start);
    spdlog::info("{} weights interpolated toward {} (alpha {}), {} kept", r.interpolated, r.start, args->alpha, r.kept);
    std::cout << args->out << std::endl;
  });
}

}  // namespace toonreid::cli
