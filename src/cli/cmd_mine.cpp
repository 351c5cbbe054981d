// toonreid mine --config C [--weights CKPT | --features F] [--data ROOT] [--split test] --out DIR
//               [--method identity|kmeans] [--k N] [--describe] [key=value ...]
#include <cstdio>
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/run_setup.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "data/csv_manifest.h"
#include "mining/identity_mining.h"
#include "mining/kmeans.h"
#include "mining/pseudo_labels.h"

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
    const RetrievalDirection& c2p = r.directions.at(0);  // caricature queries, photo gallery
    const torch::Tensor q = c2p.query_features(r.features), g = c2p.gallery_features(r.features);
    const IdentityMiningOptions im = identity_mining_options(c);
    if (args->describe) {
      std::cout << describe_distances(q, g, im.distance, 2000, im.seed);
      return;
    }
    std::vector<ImageRecord> samples;
    std::vector<int> truth;
    for (std::size_t i = 0; i < c2p.query_records.size(); ++i)
      samples.push_back(r.data[c2p.query_records[i]]), truth.push_back(c2p.query_labels[i]);
    for (std::size_t i = 0; i < c2p.gallery_records.size(); ++i)
      samples.push_back(r.data[c2p.gallery_records[i]]), truth.push_back(c2p.gallery_labels[i]);

    const std::string method = c.get_string("mining.method");
    nlohmann::json info{{"method", method}, {"model", r.model}, {"queries", q.size(0)}, {"gallery", g.size(0)}};
    std::vector<int> pseudo;
    if (method == "identity") {
      MiningResult m = mine_identities(q, g, im);
      pseudo = m.labels;
      info["d_n"] = im.d_n, info["d_p"] = im.d_p, info["distance"] = distance_name(im.distance);
      info["anchors"] = m.anchors.size();
    } else {
      KMeansOptions ko;
      ko.k = static_cast<int>(c.get_int("mining.kmeans_k"));
      ko.max_iterations = static_cast<int>(c.get_int("mining.kmeans_iterations"));
      ko.seed = im.seed;
      KMeansResult km = kmeans(torch::cat({q, g}), ko);
      pseudo = km.labels;
      info["k"] = ko.k, info["iterations"] = km.iterations, info["inertia"] = km.inertia;
    }
    // The split's own identities serve as ground truth (known for benchmark data).
    const PseudoLabelQuality quality = pseudo_label_quality(pseudo, truth);
    info["quality"] = to_json(quality);
    fs::create_directories(args->out);
    write_csv_manifest(pseudo_labelled_dataset(samples, pseudo, method == "identity" ? "im_" : "km_"),
                       fs::path(args->out) / "pseudo_labels.csv");
    write_file_atomically(fs::path(args->out) / "mining.json", info.dump(2) + "\n");
    std::printf("%s: %zu of %zu samples labelled into %zu pseudo identities (%zu true identities found); "
                "pair precision %.3f, recall %.3f\n",
                method.c_str(), quality.labelled, quality.samples, quality.pseudo_identities, quality.identities_found,
                quality.precision, quality.recall);
    std::cout << (fs::path(args->out) / "pseudo_labels.csv").string() << "\n";
  });
}

}  // namespace toonreid::cli
