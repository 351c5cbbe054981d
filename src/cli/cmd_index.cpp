// toonreid index build --config C [--weights CKPT] (--data ROOT [--split S] [--domain photo|cartoon|all] | --manifest CSV)
//                      --out INDEX_DIR [--index flat|ivf|hnsw] [--ivf-lists N] [--ivf-probe N] [--hnsw-m M]
//                      [--calibration FILE | --calibrate-split S [--calibrate-data ROOT]] [key=value ...]
// toonreid index add    --index INDEX_DIR (--data ROOT [--split S] [--domain D] | --manifest CSV)
// toonreid index remove --index INDEX_DIR (--identity NAME | --item ID)
// toonreid index calibrate --index INDEX_DIR (--calibration FILE | --split S [--data ROOT])
// toonreid index stats  --index INDEX_DIR [--json]
// toonreid index verify --index INDEX_DIR
// toonreid search --index INDEX_DIR IMAGE... [--top-k 10] [--by identity|image] [--rerank] [--json]
//                 [--fpir F | --threshold T] [--largest-face] [--fallback]
#include <fstream>
#include <iostream>
#include <optional>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/image_args.h"
#include "core/error.h"
#include "data/image_io.h"
#include "recipe/index_setup.h"
#include "recipe/open_set_run.h"
#include "recipe/run_setup.h"
#include "serve/gallery_search.h"
#include "serve/http_service.h"
#include "toonreid_schema.h"

namespace toonreid::cli {

namespace fs = std::filesystem;

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

void print_stats_line(const std::string& dir, const GalleryIndex& index) {
  const IndexStats s = index.stats();
  std::printf("%s: %lld images of %lld identities (%s index, %lld-d, model %s%s)\n", dir.c_str(),
              static_cast<long long>(s.items), static_cast<long long>(s.identities), index_kind_name(s.kind),
              static_cast<long long>(s.dim), s.fingerprint.c_str(), s.calibrated ? ", calibrated" : "");
}

}  // namespace

void add_index_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("index", "A gallery of known people: build, add, remove, stats, verify");
  cmd->require_subcommand(1);

  struct BuildArgs {
    std::string config, weights, out, kind = "flat";
    ImagesArgs images;
    int ivf_lists = 0, ivf_probe = 16, hnsw_m = 32;
    CalibrationArgs calibration;
    std::vector<std::string> overrides;
  };
  auto build = std::make_shared<BuildArgs>();
  auto* b = cmd->add_subcommand("build", "Embed images and store them in a new index");
  b->add_option("--config", build->config, "YAML config (model, input, faces)")->required()->check(CLI::ExistingFile);
  b->add_option("--weights", build->weights, "Checkpoint (default: the config's pretrained network)")->check(CLI::ExistingFile);
  add_images_args(b, build->images);
  b->add_option("--out", build->out, "New index folder")->required();
  b->add_option("--index", build->kind, "flat (exact), ivf or hnsw")->check(CLI::IsMember({"flat", "ivf", "hnsw"}));
  b->add_option("--ivf-lists", build->ivf_lists, "ivf: lists (0: about 4 sqrt(N))");
  b->add_option("--ivf-probe", build->ivf_probe, "ivf: lists searched per query");
  b->add_option("--hnsw-m", build->hnsw_m, "hnsw: graph degree");
  add_calibration_args(b, build->calibration, "calibrate-");
  b->add_option("overrides", build->overrides, "Config overrides key.sub=value");
  b->callback([build, &ctx] {
    RunSetup run(build->config, build->overrides);
    run.join_job();  // under toonreid launch / torchrun: the ranks share the embedding
    const Dataset images = chosen_images(build->images);
    const std::string weights = build->weights.empty() ? "" : fs::absolute(build->weights).string();
    Embedder embedder(run.config(), weights, run.process_group().get());
    if (!run.is_main()) {  // rank 0 writes the index
      enrol_share(embedder, images);
      return run.finish_job();
    }
    IndexOptions o;
    o.kind = parse_index_kind(build->kind);
    o.ivf_lists = build->ivf_lists, o.ivf_probe = build->ivf_probe, o.hnsw_m = build->hnsw_m;
    // The calibration first: a wrong file or split stops the build before any embedding.
    std::unique_ptr<Calibration> cal;
    const auto& c = build->calibration;
    if (!c.file.empty() || !c.split.empty()) {
      cal = std::make_unique<Calibration>(calibration_for(run, embedder, c.file, c.data, c.split, ctx.show_progress()));
      if (cal->fingerprint != embedder.fingerprint())
        throw Error((c.file.empty() ? std::string("the calibration") : c.file) + ": made for model " + cal->fingerprint +
                    ", the index is built with " + embedder.fingerprint() + " (same config and weights needed)");
    }
    GalleryIndex::create(build->out, {embedder.fingerprint(), run.config().to_yaml(false), weights, embedder.preprocessing(),
                                      embedder.dim()}, o);
    GalleryIndex index(build->out);
    if (cal) index.set_calibration(*cal);
    enrol(index, embedder, images, ctx.show_progress());
    index.snapshot();  // a bulk build: the next open loads the snapshot, nothing to replay
    print_stats_line(build->out, index);
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
    print_stats_line(calibrate->index, setup.index());
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
                static_cast<long long>(st.items), static_cast<long long>(st.identities), index_kind_name(st.kind),
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

void add_serve_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("serve", "HTTP service and web page over a gallery index (search, enrol, remove)");
  struct Args {
    std::string index, token_file;
    ServiceOptions service;
    double max_upload_mb = 10;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--index", args->index, "Index folder")->required();
  cmd->add_option("--host", args->service.host, "Address to listen on (default loopback only)");
  cmd->add_option("--port", args->service.port, "Port (0: any free one)")->check(CLI::Range(0, 65535));
  cmd->add_option("--allowed-host", args->service.allowed_hosts,
                  "A host name the Host header may carry besides the address listened on (repeatable; other names: 403)");
  auto* token = cmd->add_option("--token", args->service.token,
                                "Token required for changes (shows in ps: prefer --token-file or $TOONREID_TOKEN)");
  cmd->add_option("--token-file", args->token_file, "File whose first line is the token")->check(CLI::ExistingFile)->excludes(token);
  cmd->add_option("--threads", args->service.threads, "Request threads kept")->check(CLI::Range(1, 256));
  cmd->add_option("--max-connections", args->service.max_connections,
                  "Threads the pool may grow to while slow clients hold some")->check(CLI::Range(1, 4096));
  cmd->add_option("--read-timeout", args->service.read_timeout_s, "Seconds within which every read of a request must bring data")
      ->check(CLI::Range(1, 600));
  cmd->add_option("--keep-alive-timeout", args->service.keep_alive_timeout_s, "Seconds an idle connection is kept")
      ->check(CLI::Range(1, 600));
  cmd->add_option("--batch-window-ms", args->service.batch_window_ms,
                  "Searches by picture arriving within this many ms share one network pass (0: each alone)")
      ->check(CLI::Range(0.0, 1000.0));
  cmd->add_option("--max-upload-mb", args->max_upload_mb, "Largest upload accepted (413 above)")->check(CLI::Range(0.01, 1024.0));
  cmd->callback([args] {
    if (!args->token_file.empty()) {
      std::ifstream in(args->token_file);
      std::getline(in, args->service.token);
      while (!args->service.token.empty() && (args->service.token.back() == '\r' || args->service.token.back() == ' '))
        args->service.token.pop_back();
      if (args->service.token.empty()) throw Error(args->token_file + ": no token on its first line");
    }
    if (args->service.token.empty())
      if (const char* t = std::getenv("TOONREID_TOKEN")) args->service.token = t;
    args->service.max_upload_bytes = static_cast<std::size_t>(args->max_upload_mb * 1024 * 1024);
    IndexSetup setup(args->index, OpenMode::ReadWrite);
    SearchService service(setup.index(), setup.embedder(), args->service);
    const int port = service.bind();
    // The first line on stdout: where to connect (port 0 picks one).
    std::printf("http://%s:%d/\n", args->service.host.c_str(), port);
    std::fflush(stdout);
    service.run();
  });
}

void add_decision_args(CLI::App* cmd, SearchOptions& o, std::optional<double>& threshold, FaceSelection& faces) {
  cmd->add_option("--fpir", o.fpir,
                  "Operating point of the decisions: the false positive identification rate (calibrated index)")
      ->check(CLI::Range(1e-6, 1.0));
  cmd->add_option("--threshold", threshold, "An explicit decision threshold on the index's score instead")->excludes("--fpir");
  cmd->add_flag("--largest-face", faces.largest_only, "One face per picture: the largest found");
  cmd->add_flag("--fallback", faces.fallback, "No face found: search the whole picture as one face");
}

void add_search_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("search", "Who is this? Every face of each picture against a gallery index: match or unknown");
  struct Args {
    std::string index, by = "identity";
    std::vector<std::string> images;
    SearchOptions search;
    std::optional<double> threshold;
    FaceSelection faces;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--index", args->index, "Index folder")->required();
  cmd->add_option("images", args->images, "Query pictures (JPEG or PNG)")->required();
  cmd->add_option("--top-k", args->search.top_k, "Results per face")->check(CLI::Range(1, 100000));
  cmd->add_option("--by", args->by, "identity (best image per identity) or image")->check(CLI::IsMember({"identity", "image"}));
  cmd->add_flag("--rerank", args->search.rerank, "k-reciprocal re-ranking of the retrieved candidates (reorders the list)");
  add_decision_args(cmd, args->search, args->threshold, args->faces);
  cmd->add_flag("--json", args->json, "Print JSON");
  cmd->callback([args, &ctx] {
    IndexSetup setup(args->index, OpenMode::ReadOnly);
    SearchOptions o = args->search;
    o.by_identity = args->by == "identity";
    o.threshold = args->threshold;
    ImageDecoder decoder;
    decoder.set_strict(true);  // the service's rule too: a truncated picture is refused
    decoder.set_max_pixels(setup.embedder().max_pixels());
    nlohmann::json all = nlohmann::json::array();
    for (const auto& p : args->images) {
      if (!fs::is_regular_file(p)) throw Error(p + ": not a file");
      const cv::Mat rgb = decoder.read(p);
      const PictureSearch r = search_picture(setup.index(), setup.embedder(), rgb, p, args->faces, o);
      if (args->json) {
        all.push_back(to_json(r));
        continue;
      }
      std::printf("%s: %s\n", p.c_str(), r.faces.empty() ? "no face found" : (std::to_string(r.faces.size()) + " face(s)").c_str());
      for (const auto& f : r.faces) {
        const Decision& d = f.result.decision;
        std::printf(" face %d at (%.0f, %.0f, %.0f x %.0f), %s %.2f: ", f.index, f.box.x, f.box.y, f.box.width, f.box.height,
                    f.path.c_str(), f.detector_score);
        if (d.kind == Decision::Kind::Match)
          std::printf("MATCH %s (score %.4f < threshold %.4f, FPIR %.3g)\n", d.identity.c_str(), d.score, d.threshold, d.fpir);
        else if (d.kind == Decision::Kind::Unknown)
          std::printf("UNKNOWN, closest %s (score %.4f >= threshold %.4f, FPIR %.3g)\n", d.identity.c_str(), d.score,
                      d.threshold, d.fpir);
        else
          std::printf("uncalibrated index (no decision), closest %s\n", d.identity.c_str());
        int rank = 0;
        for (const auto& h : f.result.hits)
          std::printf("  %2d. %-28s %.4f  %s\n", ++rank, h.item.identity.c_str(), h.distance, h.item.source.c_str());
      }
    }
    if (args->json) std::cout << all.dump(2) << "\n";
  });
}

}  // namespace toonreid::cli
