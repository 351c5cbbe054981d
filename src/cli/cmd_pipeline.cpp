// toonreid pipeline --config C [--output DIR] [key=value ...]
#include <iostream>

#include "cli/commands.h"
#include "recipe/pipeline.h"

namespace toonreid::cli {

void add_pipeline_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "pipeline", "Run the recipe: baseline, MDL, identity mining (vs k-means), re-ranking, ensemble; resumable");
  auto args = std::make_shared<PipelineArgs>();
  cmd->add_option("--config", args->config, "YAML config")->required()->check(CLI::ExistingFile);
  cmd->add_option("--output", args->output, "Folder of the stages and the comparison (default: pipeline.output_dir)");
  cmd->add_option("overrides", args->overrides, "Config overrides key.sub=value");
  cmd->callback([args, &ctx] {
    args->progress = ctx.show_progress();
    std::cout << run_pipeline(*args).table;
  });
}

}  // namespace toonreid::cli
