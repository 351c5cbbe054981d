// toonreid eval    --config C [--data ROOT] [--split test] [--weights CKPT] [--json OUT] [key=value ...]
// toonreid extract --config C [--data ROOT] [--split test] [--weights CKPT] --out DIR [key=value ...]
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "cli/run_setup.h"
#include "core/atomic_file.h"
#include "data/csv_manifest.h"
#include "retrieval/npy.h"

namespace toonreid::cli {

namespace {

struct Args {
  std::string config, data, split, weights, json, out;
  std::vector<std::string> overrides;
};

void add_common(CLI::App* cmd, Args& a) {
  cmd->add_option("--config", a.config, "YAML config")->required()->check(CLI::ExistingFile);
  cmd->add_option("--data", a.data, "Data set folder or manifest (default: data.root)");
  cmd->add_option("--split", a.split, "Split to use (default: data.test_split)");
  cmd->add_option("--weights", a.weights, "Checkpoint (default: the config's pretrained initialisation)");
  cmd->add_option("overrides", a.overrides, "Config overrides key.sub=value");
}

}  // namespace

void add_eval_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("eval", "Cross-domain retrieval metrics (C2P, P2C) of a model on a split");
  auto args = std::make_shared<Args>();
  add_common(cmd, *args);
  cmd->add_option("--json", args->json, "Also write the metrics as JSON");
  cmd->callback([args, &ctx] {
    RunSetup run(args->config, args->overrides);
    Dataset data = run.open_data(args->data).split(args->split.empty() ? run.config().get_string("data.test_split") : args->split);
    auto m = run.eval_model(args->weights);
    CrossDomainReport report = run.evaluate(m.model, *m.model_config, data, ctx.show_progress());
    std::cout << format_table(report);
    if (!args->json.empty()) write_file_atomically(args->json, to_json(report).dump(2) + "\n");
  });
}

void add_extract_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("extract", "Write the embeddings of a split: features.npy and records.csv");
  auto args = std::make_shared<Args>();
  add_common(cmd, *args);
  cmd->add_option("--out", args->out, "Output folder")->required();
  cmd->callback([args, &ctx] {
    RunSetup run(args->config, args->overrides);
    Dataset data = run.open_data(args->data).split(args->split.empty() ? run.config().get_string("data.test_split") : args->split);
    auto m = run.eval_model(args->weights);
    torch::Tensor f = run.features(m.model, *m.model_config, data, ctx.show_progress());
    std::filesystem::create_directories(args->out);
    write_npy(std::filesystem::path(args->out) / "features.npy", f);
    write_csv_manifest(data, std::filesystem::path(args->out) / "records.csv");
    std::cout << (std::filesystem::path(args->out) / "features.npy").string() << "\n";
  });
}

}  // namespace toonreid::cli
