// toonreid eval    --config C [--data ROOT] [--split test] [--weights CKPT] [--json OUT] [--markdown OUT]
//                  [--html OUT [--train-log LOG] [--pictures N]] [--save DIR]
//                  [--open-set [--enrolled-fraction F] [--calibration FILE]] [key=value ...]
// toonreid calibrate --config C [--weights CKPT] [--data ROOT] [--split validation] --out calibration.json [key=value ...]
// toonreid extract --config C [--data ROOT] [--split test] [--weights CKPT] --out DIR [key=value ...]
#include <fstream>
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "recipe/open_set_run.h"
#include "recipe/split_report.h"
#include "cli/model_args.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "data/csv_manifest.h"
#include "eval/html_report.h"
#include "retrieval/matrix_io.h"
#include "serve/embedder.h"

namespace toonreid::cli {

namespace fs = std::filesystem;


void add_eval_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("eval", "Cross-domain retrieval metrics (C2P, P2C) of a model on a split");
  struct Args {
    ModelArgs model;
    std::string json, markdown, html, train_log, save, calibration;
    std::size_t pictures = 6;
    bool open_set = false;
    double enrolled_fraction = 0;
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
  cmd->add_flag("--open-set", args->open_set,
                "Also verification (ROC, AUC, EER, TAR at FAR) and open-set identification (DIR at FPIR, DET) over "
                "seeded enrolment splits (the open_set section)");
  auto* fraction = cmd->add_option("--enrolled-fraction", args->enrolled_fraction,
                                   "--open-set: fraction of the identities enrolled (open_set.enrolled_fraction)")
                       ->check(CLI::Range(0.01, 0.99));
  auto* calibration = cmd->add_option("--calibration", args->calibration,
                                      "--open-set: also the thresholds of this calibration (toonreid calibrate) and the FPIR "
                                      "they realise here")
                          ->check(CLI::ExistingFile);
  cmd->callback([args, &ctx, fraction, calibration] {
    if ((fraction->count() || calibration->count()) && !args->open_set)
      throw Error("--enrolled-fraction and --calibration go with --open-set");
    std::vector<std::string> overrides = args->model.overrides;
    if (fraction->count()) overrides.push_back("open_set.enrolled_fraction=" + std::to_string(args->enrolled_fraction));
    RunSetup run(args->model.config, overrides);
    run.join_job();  // under toonreid launch / torchrun: the ranks share the extraction
    SplitRetrieval r = run.retrieve_split(args->model, args->model.weights, ctx.show_progress());
    if (!run.is_main()) return run.finish_job();
    std::cout << format_table(r.directions) << format_path_table(r.directions, r.data);
    nlohmann::json json = to_json(r.directions);
    add_path_json(json, r.directions, r.data);
    std::string markdown = format_markdown(r.directions);
    if (const std::string paths = format_path_markdown(r.directions, r.data); !paths.empty()) markdown += "\n" + paths;
    std::vector<DirectionOpenSet> open_set;
    if (args->open_set) {
      std::unique_ptr<Calibration> cal;
      if (!args->calibration.empty()) cal = std::make_unique<Calibration>(Calibration::load(args->calibration));
      open_set = evaluate_open_set(run, r, args->model, args->model.weights, cal.get(), ctx.show_progress());
      std::cout << format_open_set_table(open_set);
      for (const auto& d : open_set) json[d.name]["open_set"] = to_json(d, true);
      markdown += "\n" + format_open_set_markdown(open_set);
    }
    if (!args->json.empty()) write_file_atomically(args->json, json.dump(2) + "\n");
    if (!args->markdown.empty()) write_file_atomically(args->markdown, markdown);
    if (!args->save.empty()) save_split_matrices(args->save, r);
    if (!args->html.empty()) {
      const std::string split = !args->model.query_split.empty()
                                    ? args->model.query_split + " against " + args->model.gallery_split
                                : args->model.split.empty() ? run.config().get_string("data.test_split")
                                                            : args->model.split;
      const fs::path log = args->train_log.empty() ? find_training_log(args->model.weights) : fs::path(args->train_log);
      ReportInput in = split_report_input(r, run.config(), split, log, args->pictures);
      for (const auto& d : open_set) in.open_set.push_back(&d);
      write_file_atomically(args->html, render_html_report(in));
      spdlog::info("report written to {}", args->html);
    }
    run.finish_job();
  });
}

void add_calibrate_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "calibrate", "Decision thresholds for open-set use (FPIR, FAR) from validation identities: calibration.json");
  struct Args {
    ModelArgs model;
    std::string out;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--config", args->model.config, "YAML config")->required()->check(CLI::ExistingFile);
  cmd->add_option("--weights", args->model.weights, "Checkpoint (default: the config's pretrained network)")->check(CLI::ExistingFile);
  cmd->add_option("--data", args->model.data, "Data set folder or manifest (default: data.root)");
  cmd->add_option("--split", args->model.split,
                  "Identities the model never trained on (default: validation, the identities data.val_identities holds out)");
  cmd->add_option("--out", args->out, "The calibration file to write")->required();
  cmd->add_option("overrides", args->model.overrides, "Config overrides key.sub=value");
  cmd->callback([args, &ctx] {
    RunSetup run(args->model.config, args->model.overrides);
    const std::string weights = args->model.weights.empty() ? "" : fs::absolute(args->model.weights).string();
    Embedder embedder(run.config(), weights);
    Calibration cal = calibrate_model(run, embedder, args->model, ctx.show_progress());
    cal.weights = weights;
    cal.save(args->out);
    std::cout << describe_calibration(cal) << args->out << "\n";
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
    auto m = run.eval_model(args->model.weights);
    const Dataset data = run.faces(run.split_data(args->model), ctx.show_progress(), *m.model_config);
    const torch::Tensor features = run.features(m.model, *m.model_config, data, ctx.show_progress());
    if (run.is_main()) {
      save_split_features(args->out, data, features);
      std::cout << (fs::path(args->out) / "features.npy").string() << "\n";
    }
    run.finish_job();
  });
}

}  // namespace toonreid::cli
