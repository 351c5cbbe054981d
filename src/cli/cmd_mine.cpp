// toonreid mine --config C [--weights CKPT | --features F] [--data ROOT] [--split test] --out DIR
//               [--method identity|kmeans] [--k N] [--describe] [key=value ...]
#include <cstdio>
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "recipe/mining_run.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "mining/identity_mining.h"

namespace toonreid::cli {

namespace fs = std::filesystem;

void add_mine_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "mine", "Pseudo-label unlabelled test data (caricature queries + photo gallery): Identity Mining or k-means");
  struct Args {
    ModelArgs model;
    std::string out, method;
    int k = 0;
    bool describe = false;
  };
  auto args = std::make_shared<Args>();
  add_model_args(cmd, args->model);
  cmd->add_option("--out", args->out, "Output folder: pseudo_labels.csv and mining.json")->required();
  cmd->add_option("--method", args->method, "identity or kmeans (default: mining.method)")
      ->check(CLI::IsMember({"identity", "kmeans"}));
  cmd->add_option("--k", args->k, "k-means clusters (default: mining.kmeans_k)")->check(CLI::Range(1, 10000000));
  cmd->add_flag("--describe", args->describe, "Print the distance distribution (to choose d_n and d_p) and stop");
  cmd->callback([args, &ctx] {
    if (!args->method.empty()) args->model.overrides.push_back("mining.method=" + args->method);
    if (args->k > 0) args->model.overrides.push_back("mining.kmeans_k=" + std::to_string(args->k));
    RunSetup run(args->model.config, args->model.overrides);
    const Config& c = run.config();
    SplitRetrieval r = run.retrieve_split(args->model, args->model.weights, ctx.show_progress());
    if (args->describe) {
      const RetrievalDirection& c2p = r.directions.at(0);  // caricature queries, photo gallery
      const IdentityMiningOptions im = identity_mining_options(c);
      std::cout << describe_distances(c2p.query_features(r.features), c2p.gallery_features(r.features), im.distance,
                                      2000, im.seed);
      return;
    }
    const nlohmann::json info = mine_split(r, c, c.get_string("mining.method"), args->out);
    const auto& q = info["quality"];
    std::printf("%s: %zu of %zu samples labelled into %zu pseudo identities (%zu true identities found); "
                "pair precision %.3f, recall %.3f\n",
                c.get_string("mining.method").c_str(), q["labelled"].get<std::size_t>(), q["samples"].get<std::size_t>(),
                q["pseudo_identities"].get<std::size_t>(), q["identities_found"].get<std::size_t>(),
                q["precision"].get<double>(), q["recall"].get<double>());
    std::cout << (fs::path(args->out) / "pseudo_labels.csv").string() << "\n";
  });
}

}  // namespace toonreid::cli
