// toonreid eval    --config C [--data ROOT] [--split test] [--weights CKPT] [--json OUT] [--markdown OUT]
//                  [--html OUT [--train-log LOG] [--pictures N]] [--save DIR] [key=value ...]
// toonreid extract --config C [--data ROOT] [--split test] [--weights CKPT] --out DIR [key=value ...]
#include <fstream>
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "recipe/split_report.h"
#include "cli/model_args.h"
#include "core/atomic_file.h"
#include "data/csv_manifest.h"
#include "eval/html_report.h"
#include "retrieval/matrix_io.h"

namespace toonreid::cli {

namespace fs = std::filesystem;


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
    run.join_job();  // under toonreid launch / torchrun: the ranks share the extraction
    SplitRetrieval r = run.retrieve_split(args->model, args->model.weights, ctx.show_progress());
    if (!run.is_main()) return run.finish_job();
    std::cout << format_table(r.directions);
    if (!args->json.empty()) write_file_atomically(args->json, to_json(r.directions).dump(2) + "\n");
    if (!args->markdown.empty()) write_file_atomically(args->markdown, format_markdown(r.directions));
    if (!args->save.empty()) save_split_matrices(args->save, r);
    if (!args->html.empty()) {
      const std::string split = !args->model.query_split.empty()
                                    ? args->model.query_split + " against " + args->model.gallery_split
                                : args->model.split.empty() ? run.config().get_string("data.test_split")
                                                            : args->model.split;
      const fs::path log = args->train_log.empty() ? find_training_log(args->model.weights) : fs::path(args->train_log);
      const ReportInput in = split_report_input(r, run.config(), split, log, args->pictures);
      write_file_atomically(args->html, render_html_report(in));
      spdlog::info("report written to {}", args->html);
    }
    run.finish_job();
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
    run.join_job();  // under toonreid launch / torchrun: the ranks share the extraction
    const Dataset data = run.faces(run.split_data(args->model), ctx.show_progress());
    auto m = run.eval_model(args->model.weights);
    const torch::Tensor features = run.features(m.model, *m.model_config, data, ctx.show_progress());
    if (run.is_main()) {
      save_split_features(args->out, data, features);
      std::cout << (fs::path(args->out) / "features.npy").string() << "\n";
    }
    run.finish_job();
  });
}

}  // namespace toonreid::cli
