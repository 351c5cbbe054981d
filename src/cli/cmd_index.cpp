// toonreid index build --config C [--weights CKPT] (--data ROOT [--split S] [--domain photo|cartoon|all] | --manifest CSV)
//                      --out INDEX_DIR [--index flat|ivf|hnsw|DESCRIPTION] [--ivf-lists N] [--ivf-probe N] [--hnsw-m M]
//                      [--calibration FILE | --calibrate-split S [--calibrate-data ROOT]] [key=value ...]
// toonreid index add    --index INDEX_DIR (--data ROOT [--split S] [--domain D] | --manifest CSV)
// toonreid index remove --index INDEX_DIR (--identity NAME | --item ID)
// toonreid index calibrate --index INDEX_DIR (--calibration FILE | --split S [--data ROOT])
// toonreid index stats  --index INDEX_DIR [--json]
// toonreid index verify --index INDEX_DIR
#include <cstdio>
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/image_args.h"
#include "core/error.h"
#include "recipe/index_setup.h"
#include "recipe/open_set_run.h"
#include "recipe/run_setup.h"
#include "serve/gallery_search.h"

namespace toonreid::cli {

namespace {

std::unique_ptr<GalleryIndex> open_index(const std::string& dir, OpenMode mode) {
  auto index = std::make_unique<GalleryIndex>(dir, mode);
  for (const auto& r : index->repairs()) spdlog::warn("{}: {}", dir, r);
  return index;
}

struct CalibrationArgs {
  std::string file, split, data;
};

void add_calibration_args(CLI::App* cmd, CalibrationArgs& a, const std::string& prefix) {
  auto* file = cmd->add_option("--calibration", a.file, "A calibration of the index's model (toonreid calibrate)")
                   ->check(CLI::ExistingFile);
  auto* split = cmd->add_option("--" + prefix + "split", a.split,
                                "Calibrate now on this split (validation: data.val_identities' held-out identities)");
  cmd->add_option("--" + prefix + "data", a.data, "Data set of that split (default: data.root)")->needs(split);
  file->excludes(split);
}

void print_stats_line(const std::string& dir, const IndexStats& s) {
  std::printf("%s: %lld images of %lld identities (%s index, %lld-d, model %s%s)\n", dir.c_str(),
              static_cast<long long>(s.items), static_cast<long long>(s.identities), ann_kind_name(s.kind),
              static_cast<long long>(s.dim), s.fingerprint.c_str(), s.calibrated ? ", calibrated" : "");
}

}  // namespace

void add_index_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("index", "A gallery of known people: build, add, remove, stats, verify");
  cmd->require_subcommand(1);

  struct BuildArgs {
    std::string config, weights, out, search;  // search: empty for the config's index.search
    ImagesArgs images;
    int ivf_lists = -1, ivf_probe = -1, hnsw_m = -1;  // -1: the config's index.*
    CalibrationArgs calibration;
    std::vector<std::string> overrides;
  };
  auto build = std::make_shared<BuildArgs>();
  auto* b = cmd->add_subcommand("build", "Embed images and store them in a new index");
  b->add_option("--config", build->config, "YAML config (model, input, faces)")->required()->check(CLI::ExistingFile);
  b->add_option("--weights", build->weights, "Checkpoint (default: the config's pretrained network)")->check(CLI::ExistingFile);
  add_images_args(b, build->images);
  b->add_option("--out", build->out, "New index folder")->required();
  b->add_option("--index", build->search,
                "flat (exact), ivf, hnsw or a description such as HNSW32,efSearch=128 (default: index.search, flat)");
  b->add_option("--ivf-lists", build->ivf_lists, "ivf: lists (0: about 4 sqrt(N); default index.ivf_lists)")
      ->check(CLI::NonNegativeNumber);
  b->add_option("--ivf-probe", build->ivf_probe, "ivf: lists searched per query (default index.ivf_probe, 16)")
      ->check(CLI::PositiveNumber);
  b->add_option("--hnsw-m", build->hnsw_m, "hnsw: graph degree (default index.hnsw_m, 32)")->check(CLI::Range(2, 512));
  add_calibration_args(b, build->calibration, "calibrate-");
  b->add_option("overrides", build->overrides, "Config overrides key.sub=value");
  b->callback([build, &ctx] {
    RunSetup run(build->config, build->overrides);
    run.join_job();  // under toonreid launch / torchrun: the ranks share the embedding
    IndexBuildRequest request;
    request.out = build->out;
    request.weights = build->weights;
    request.options = index_options(run.config());
    if (build->ivf_lists >= 0) request.options.ivf_lists = build->ivf_lists;
    if (build->ivf_probe > 0) request.options.ivf_probe = build->ivf_probe;
    if (build->hnsw_m > 0) request.options.hnsw_m = build->hnsw_m;
    if (!build->search.empty()) request.options = parse_ann(build->search, request.options);
    request.calibration_file = build->calibration.file;
    request.calibration_split = build->calibration.split;
    request.calibration_data = build->calibration.data;
    if (const auto stats = build_index(run, chosen_images(build->images), request, ctx.show_progress()))
      print_stats_line(build->out, *stats);
    run.finish_job();
  });

  struct AddArgs {
    std::string index;
    ImagesArgs images;
  };
  auto add = std::make_shared<AddArgs>();
  auto* a = cmd->add_subcommand("add", "Embed more images into an index (with the index's own model)");
  a->add_option("--index", add->index, "Index folder")->required();
  add_images_args(a, add->images);
  a->callback([add, &ctx] {
    IndexSetup setup(add->index, OpenMode::ReadWrite);
    const auto ids = enrol(setup.index(), setup.embedder(), chosen_images(add->images), ctx.show_progress());
    std::printf("%s: %zu images added, %lld in all\n", add->index.c_str(), ids.size(),
                static_cast<long long>(setup.index().stats().items));
  });

  struct CalibrateArgs {
    std::string index;
    CalibrationArgs calibration;
  };
  auto calibrate = std::make_shared<CalibrateArgs>();
  auto* cal = cmd->add_subcommand("calibrate", "Attach decision thresholds (a calibration of the index's model) to an index");
  cal->add_option("--index", calibrate->index, "Index folder")->required();
  add_calibration_args(cal, calibrate->calibration, "");
  cal->callback([calibrate, &ctx] {
    IndexSetup setup(calibrate->index, OpenMode::ReadWrite);
    const auto& c = calibrate->calibration;
    if (c.file.empty() && c.split.empty()) throw Error("index calibrate: give --calibration FILE or --split S");
    const Calibration cal = calibration_for(setup.run(), setup.embedder(), c.file, c.data, c.split, ctx.show_progress());
    setup.index().set_calibration(cal);
    std::cout << describe_calibration(cal);
    print_stats_line(calibrate->index, setup.index().stats());
  });

  struct RemoveArgs {
    std::string index, identity;
    int64_t item = -1;
  };
  auto remove = std::make_shared<RemoveArgs>();
  auto* r = cmd->add_subcommand("remove", "Remove an identity's images or one item");
  r->add_option("--index", remove->index, "Index folder")->required();
  auto* by_identity = r->add_option("--identity", remove->identity, "Every image of this identity");
  auto* by_item = r->add_option("--item", remove->item, "The item with this id");
  by_identity->excludes(by_item);
  r->callback([remove] {
    if (remove->identity.empty() && remove->item < 0) throw Error("index remove: give --identity or --item");
    auto index = open_index(remove->index, OpenMode::ReadWrite);
    const int64_t n = remove->identity.empty() ? index->remove_item(remove->item) : index->remove_identity(remove->identity);
    if (n == 0)
      throw Error(remove->index + ": no " + (remove->identity.empty() ? "item " + std::to_string(remove->item)
                                                                      : "identity '" + remove->identity + "'"));
    std::printf("%s: %lld removed, %lld left\n", remove->index.c_str(), static_cast<long long>(n),
                static_cast<long long>(index->stats().items));
  });

  struct StatsArgs {
    std::string index;
    bool json = false;
  };
  auto stats = std::make_shared<StatsArgs>();
  auto* s = cmd->add_subcommand("stats", "Counts and the model of an index");
  s->add_option("--index", stats->index, "Index folder")->required();
  s->add_flag("--json", stats->json, "As JSON");
  s->callback([stats] {
    const IndexStats st = open_index(stats->index, OpenMode::ReadOnly)->stats();
    if (stats->json) {
      std::cout << to_json(st).dump(2) << "\n";
      return;
    }
    std::printf("items %lld, identities %lld, %s index of %lld-d vectors, generation %lld\nmodel %s; %s; %s\n",
                static_cast<long long>(st.items), static_cast<long long>(st.identities), ann_kind_name(st.kind),
                static_cast<long long>(st.dim), static_cast<long long>(st.generation), st.fingerprint.c_str(),
                st.preprocessing.c_str(), st.calibrated ? "calibrated (decides match / unknown)" : "uncalibrated (top-k only)");
    for (const auto& [domain, n] : st.domains) std::printf("  %s: %lld\n", domain.c_str(), static_cast<long long>(n));
  });

  auto verify_dir = std::make_shared<std::string>();
  auto* v = cmd->add_subcommand("verify", "Check that the FAISS index and the database agree; exit 3 if not");
  v->add_option("--index", *verify_dir, "Index folder")->required();
  v->callback([verify_dir, &ctx] {
    auto index = open_index(*verify_dir, OpenMode::ReadOnly);
    const auto problems = index->verify();
    for (const auto& p : problems) std::printf("problem: %s\n", p.c_str());
    std::printf("%s: %s (%lld items)\n", verify_dir->c_str(), problems.empty() ? "consistent" : "INCONSISTENT",
                static_cast<long long>(index->stats().items));
    if (!problems.empty()) ctx.exit_code = 3;
  });
}

}  // namespace toonreid::cli
