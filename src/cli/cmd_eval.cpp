// toonreid eval    --config C [--data ROOT] [--split test] [--weights CKPT] [--json OUT] [--markdown OUT]
//                  [--html OUT [--train-log LOG] [--pictures N]] [--save DIR] [key=value ...]
// toonreid extract --config C [--data ROOT] [--split test] [--weights CKPT] --out DIR [key=value ...]
#include <fstream>
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/report_pictures.h"
#include "cli/run_setup.h"
#include "core/atomic_file.h"
#include "data/csv_manifest.h"
#include "eval/html_report.h"
#include "retrieval/matrix_io.h"

namespace toonreid::cli {

namespace fs = std::filesystem;

namespace {

// train_log.jsonl beside the checkpoint, or in the run folder above checkpoints/.
fs::path find_training_log(const std::string& weights) {
  if (weights.empty()) return {};
  const fs::path dir = fs::path(weights).parent_path();
  for (const fs::path& p : {dir / "train_log.jsonl", dir.parent_path() / "train_log.jsonl"})
    if (fs::exists(p)) return p;
  return {};
}

// features.{npy,trm}, records.csv and each direction's distances ({c2p,p2c}.{npy,trm}).
void save_matrices(const fs::path& dir, const SplitRetrieval& r) {
  fs::create_directories(dir);
  for (const char* ext : {".npy", ".trm"}) {
    write_matrix(dir / (std::string("features") + ext), r.features);
    for (const auto& d : r.directions) {
      std::string name = d.name;
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      write_matrix(dir / (name + ext), d.distances);
    }
  }
  write_csv_manifest(r.data, dir / "records.csv");
}

}  // namespace

void add_eval_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("eval", "Cross-domain retrieval metrics (C2P, P2C) of a model on a split");
  struct Args {
    ModelArgs model;
    std::string json, markdown, html, train_log, save;
    std::size_t pictures = 6;
  };
  auto args = std::make_shared<Args>();
  add_model_args(cmd, args->model);
  cmd->add_option("--json", args->json, "Also write the metrics as JSON");
  cmd->add_option("--markdown", args->markdown, "Also write the metrics as a Markdown table");
  cmd->add_option("--html", args->html, "Also write a self-contained HTML report");
  cmd->add_option("--train-log", args->train_log,
                  "Training log for the report's curves (default: train_log.jsonl beside the checkpoint)");
  cmd->add_option("--pictures", args->pictures, "Queries per direction shown as ranked lists in the HTML report");
  cmd->add_option("--save", args->save,
                  "Folder for features and distance matrices (.npy and toonreid's binary .trm) with records.csv");
  cmd->callback([args, &ctx] {
    RunSetup run(args->model.config, args->model.overrides);
    SplitRetrieval r = run.retrieve_split(args->model, args->model.weights, ctx.show_progress());
    std::cout << format_table(r.directions);
    if (!args->json.empty()) write_file_atomically(args->json, to_json(r.directions).dump(2) + "\n");
    if (!args->markdown.empty()) write_file_atomically(args->markdown, format_markdown(r.directions));
    if (!args->save.empty()) save_matrices(args->save, r);
    if (!args->html.empty()) {
      ReportInput in;
      in.facts = {{"model", r.model},
                  {"data", r.data.origin()},
                  {"split", !args->model.query_split.empty() ? args->model.query_split + " against " + args->model.gallery_split
                            : args->model.split.empty() ? run.config().get_string("data.test_split") : args->model.split},
                  {"images", std::to_string(r.data.size())},
                  {"feature size", std::to_string(r.features.size(1))},
                  {"retrieval", retrieval_options(run.config()).describe()}};
      for (const auto& d : r.directions) in.directions.push_back(&d);
      in.identity_names = make_labels(r.data).names;
      const fs::path log = args->train_log.empty() ? find_training_log(args->model.weights) : fs::path(args->train_log);
      if (!log.empty()) {
        in.training = read_training_log(log);
        in.facts.emplace_back("training log", log.string());
      }
      in.pictures = ranked_list_pictures(r, args->pictures, static_cast<std::uint64_t>(run.config().get_int("run.seed")));
      write_file_atomically(args->html, render_html_report(in));
      spdlog::info("report written to {}", args->html);
    }
  });
}

void add_extract_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("extract", "Write the embeddings of a split: features.npy and records.csv");
  struct Args {
    ModelArgs model;
    std::string out;
  };
  auto args = std::make_shared<Args>();
  add_model_args(cmd, args->model);
  cmd->add_option("--out", args->out, "Output folder")->required();
  cmd->callback([args, &ctx] {
    RunSetup run(args->model.config, args->model.overrides);
    Dataset data = run.faces(run.select_split(
        run.open_data(args->model.data), args->model.split.empty() ? run.config().get_string("data.test_split") : args->model.split));
    auto m = run.eval_model(args->model.weights);
    torch::Tensor f = run.features(m.model, *m.model_config, data, ctx.show_progress());
    fs::create_directories(args->out);
    write_matrix(fs::path(args->out) / "features.npy", f);
    write_matrix(fs::path(args->out) / "features.trm", f);
    write_csv_manifest(data, fs::path(args->out) / "records.csv");
    std::cout << (fs::path(args->out) / "features.npy").string() << "\n";
  });
}

}  // namespace toonreid::cli
