// toonreid visualize --config C [--weights CKPT] --out DIR [--direction C2P|P2C|both] [--queries N | --query Q ...]
//                    [--top-k K] [--tile PX]
// toonreid rank      --config C [--weights CKPT] --out ranks.csv [--direction ...] [--top-k K]
// toonreid ensemble  --config C --models CKPT... [--model-weights W... | --choose-weights] [--combine distances|features]
//                    [--normalize none|minmax|zscore] [--json OUT] [--markdown OUT]
#include <fstream>
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/model_args.h"
#include "recipe/ensemble_run.h"
#include "recipe/split_report.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "data/image_io.h"
#include "eval/ranked_list.h"
#include "retrieval/ensemble.h"

namespace toonreid::cli {

namespace fs = std::filesystem;

namespace {

void add_direction_option(CLI::App* cmd, std::string& which) {
  cmd->add_option("--direction", which, "C2P, P2C or both")->check(CLI::IsMember({"C2P", "P2C", "both"}));
}

}  // namespace

void add_visualize_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("visualize", "PNG pictures of ranked lists: each query and its top-k matches");
  struct Args {
    ModelArgs model;
    std::string out, direction = "both";
    std::size_t queries = 8, top_k = 5;
    int tile = 96;
    std::vector<std::string> chosen;
  };
  auto args = std::make_shared<Args>();
  add_model_args(cmd, args->model);
  cmd->add_option("--out", args->out, "Output folder (one PNG per direction)")->required();
  add_direction_option(cmd, args->direction);
  cmd->add_option("--queries", args->queries, "Number of random queries (seed: run.seed)");
  cmd->add_option("--query", args->chosen, "Chosen queries: index, or the end of the image path (repeatable)");
  cmd->add_option("--top-k", args->top_k, "Matches shown per query")->check(CLI::Range(1, 50));
  cmd->add_option("--tile", args->tile, "Pixels per image")->check(CLI::Range(32, 512));
  cmd->callback([args, &ctx] {
    RunSetup run(args->model.config, args->model.overrides);
    SplitRetrieval r = run.retrieve_split(args->model, args->model.weights, ctx.show_progress());
    fs::create_directories(args->out);
    for (const auto* d : chosen_directions(r, args->direction)) {
      std::vector<std::size_t> queries;
      for (const auto& q : args->chosen) queries.push_back(resolve_query(r, *d, q));
      if (args->chosen.empty())
        queries = pick_queries(*d, args->queries, static_cast<std::uint64_t>(run.config().get_int("run.seed")));
      RankedListOptions o;
      o.top_k = args->top_k;
      o.tile = args->tile;
      const fs::path file = fs::path(args->out) / (d->name + ".png");
      write_image(file, render_ranked_lists(r.data, *d, queries, o));
      std::cout << file.string() << "\n";
    }
  });
}

void add_rank_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("rank", "Write each query's top-k gallery items and predicted identity as CSV");
  struct Args {
    ModelArgs model;
    std::string out, direction = "both";
    std::size_t top_k = 10;
  };
  auto args = std::make_shared<Args>();
  add_model_args(cmd, args->model);
  cmd->add_option("--out", args->out, "CSV file")->required();
  add_direction_option(cmd, args->direction);
  cmd->add_option("--top-k", args->top_k, "Gallery items per query")->check(CLI::Range(1, 100000));
  cmd->callback([args, &ctx] {
    RunSetup run(args->model.config, args->model.overrides);
    SplitRetrieval r = run.retrieve_split(args->model, args->model.weights, ctx.show_progress());
    const auto directions = chosen_directions(r, args->direction);
    const std::string csv = ranked_csv(r, directions, args->top_k);
    std::size_t rows = 0;
    for (const auto* d : directions) rows += d->query_records.size();
    write_file_atomically(args->out, csv);
    spdlog::info("{} ranked queries written to {}", rows, args->out);
    std::cout << args->out << "\n";
  });
}

void add_ensemble_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("ensemble", "Evaluate an ensemble of several models (distances or features combined)");
  struct Args {
    ModelArgs model;
    std::vector<std::string> models;
    std::vector<double> weights;
    std::string combine = "distances", normalize = "none", json, markdown;
    bool choose_weights = false;
    double weight_step = 0.1;
  };
  auto args = std::make_shared<Args>();
  add_model_args(cmd, args->model, false);
  cmd->add_option("--models", args->models,
                  "Checkpoints, 'pretrained' (the config's initialisation), 'pretrained:CONFIG' (another config's "
                  "network and pipeline, zero-shot) or saved features (.npy / .trm)")
      ->required()->expected(2, 64);
  cmd->add_option("--model-weights", args->weights, "One weight per model (default: equal)");
  cmd->add_flag("--choose-weights", args->choose_weights,
               "Choose the weights on the validation identities (data.val_identities), then evaluate --split with them");
  cmd->add_option("--weight-step", args->weight_step, "Grid step of --choose-weights over the simplex")
      ->check(CLI::Range(0.01, 0.5));
  cmd->add_option("--combine", args->combine, "Combine distance matrices or concatenated features")
      ->check(CLI::IsMember({"distances", "features"}));
  cmd->add_option("--normalize", args->normalize, "Per-matrix normalisation before combining distances")
      ->check(CLI::IsMember({"none", "minmax", "zscore"}));
  cmd->add_option("--json", args->json, "Write the ensemble's metrics as JSON");
  cmd->add_option("--markdown", args->markdown, "Write every model's and the ensemble's metrics as Markdown");
  cmd->callback([args, &ctx] {
    // --models takes every following word, so overrides written after it land there.
    for (auto it = args->models.begin(); it != args->models.end();)
      if (it->find('=') != std::string::npos && !fs::exists(*it) && it->rfind("pretrained:", 0) != 0) {
        args->model.overrides.push_back(*it);
        it = args->models.erase(it);
      } else {
        ++it;
      }
    RunSetup run(args->model.config, args->model.overrides);
    EnsembleRequest request;
    request.members = args->models;
    request.weights = args->weights;
    request.choose_weights = args->choose_weights;
    request.weight_step = args->weight_step;
    request.combination = parse_ensemble_combination(args->combine);
    request.normalization = parse_normalization(args->normalize);
    request.overrides = args->model.overrides;
    const EnsembleResult result = run_ensemble(run, args->model, request, ctx.show_progress());
    std::string markdown;
    if (result.chosen) {
      std::string line = "weights chosen on validation (" + std::to_string(result.chosen->tried) + " tried, mean mAP " +
                         fmt::format("{:.2f}", 100 * result.chosen->mean_map) + "):";
      for (std::size_t i = 0; i < result.weights.size(); ++i)
        line += fmt::format(" {}={:.2f}", args->models[i], result.weights[i]);
      std::cout << line << "\n";
      markdown += line + "\n\n";
    }
    for (const auto& m : result.members) {
      std::cout << m.model << "\n" << format_table(m.directions);
      markdown += "### " + m.model + "\n\n" + format_markdown(m.directions) + "\n";
    }
    std::cout << "ensemble (" << args->combine << (args->combine == "distances" ? ", " + args->normalize : "") << ")\n"
              << format_table(result.combined);
    markdown += "### ensemble (" + args->combine + ")\n\n" + format_markdown(result.combined);
    if (!args->json.empty()) write_file_atomically(args->json, to_json(result.combined).dump(2) + "\n");
    if (!args->markdown.empty()) write_file_atomically(args->markdown, markdown);
  });
}

}  // namespace toonreid::cli
