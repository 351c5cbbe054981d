// toonreid train --config C [key=value ...] [--resume CHECKPOINT|RUN_DIR] [--output DIR]
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/run_setup.h"
#include "engine/hooks.h"
#include "engine/trainer.h"

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
    const Config& config = run.config();
    Dataset data = run.open_data("");
    Dataset train = data.split(config.get_string("data.train_split"));
    const std::filesystem::path out = std::filesystem::path(args->output.empty() ? config.get_string("run.output_dir") : args->output);

    Trainer trainer(config, train, out);
    auto log = std::make_unique<JsonLogHook>(out / "train_log.jsonl");
    JsonLogHook* log_ptr = log.get();
    trainer.add_hook(std::make_unique<ProgressHook>(ctx.show_progress()));
    trainer.add_hook(std::move(log));
    trainer.add_hook(std::make_unique<CheckpointHook>());
    const std::string test_split = config.get_string("data.test_split");
    const auto splits = data.splits();
    if (config.get_bool("train.eval") && std::find(splits.begin(), splits.end(), test_split) != splits.end()) {
      Dataset test = data.split(test_split);
      trainer.add_hook(std::make_unique<EvalHook>(
          [&run, test, &ctx](ReidModel& model) {
            CrossDomainReport report = run.evaluate(model, run.config(), test, ctx.show_progress());
            std::cerr << format_table(report);
            nlohmann::json j = to_json(report);
            j["score"] = 0.5 * (report.c2p.mAP + report.p2c.mAP);
            return j;
          },
          static_cast<int>(config.get_int("train.eval_every")), log_ptr));
    }
    if (!args->resume.empty()) {
      std::filesystem::path r = args->resume;
      if (std::filesystem::is_directory(r)) r = r / "checkpoints" / "last.pt";
      trainer.resume(r);
    }
    trainer.train();
    std::cout << (out / "model_final.pt").string() << std::endl;
  });
}

}  // namespace toonreid::cli
