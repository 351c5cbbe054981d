// toonreid index build --config C [--weights CKPT] (--data ROOT [--split S] [--domain photo|cartoon|all] | --manifest CSV)
//                      --out INDEX_DIR [--index flat|ivf|hnsw] [--ivf-lists N] [--ivf-probe N] [--hnsw-m M] [key=value ...]
// toonreid index add    --index INDEX_DIR (--data ROOT [--split S] [--domain D] | --manifest CSV)
// toonreid index remove --index INDEX_DIR (--identity NAME | --item ID)
// toonreid index stats  --index INDEX_DIR [--json]
// toonreid index verify --index INDEX_DIR
// toonreid search --index INDEX_DIR IMAGE... [--top-k 10] [--by identity|image] [--rerank] [--json]
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "core/error.h"
#include "recipe/run_setup.h"
#include "serve/gallery_search.h"
#include "serve/http_service.h"
#include "toonreid_schema.h"

namespace toonreid::cli {

namespace fs = std::filesystem;

namespace {

struct ImagesArgs {
  std::string data, manifest, split, domain = "all";
};

void add_images_args(CLI::App* cmd, ImagesArgs& a) {
  auto* data = cmd->add_option("--data", a.data, "Data set folder (WebCaricature layout)");
  auto* manifest = cmd->add_option("--manifest", a.manifest, "CSV manifest of images (path, identity, domain)");
  data->excludes(manifest);
  cmd->add_option("--split", a.split, "Only this split's images (default: all)");
  cmd->add_option("--domain", a.domain, "photo, cartoon or all")->check(CLI::IsMember({"photo", "cartoon", "all"}));
}

Dataset chosen_images(const ImagesArgs& a) {
  if (a.data.empty() && a.manifest.empty()) throw Error("give the images with --data or --manifest");
  Dataset all = open_dataset(a.data.empty() ? a.manifest : a.data);
  Dataset part = a.split.empty() ? all : all.split(a.split);
  std::vector<ImageRecord> keep;
  for (const auto& r : part.records())
    if (a.domain == "all" || a.domain == domain_name(r.domain)) keep.push_back(r);
  if (keep.empty()) throw Error((a.data.empty() ? a.manifest : a.data) + ": no images selected (split '" + a.split +
                                "', domain " + a.domain + ")");
  return Dataset(std::move(keep), all.origin());
}

// The index's own config and model, to embed new images or queries exactly as before.
struct IndexModelSetup {
  std::unique_ptr<ConfigSchema> schema = std::make_unique<ConfigSchema>(toonreid_schema());
  std::unique_ptr<Config> config;
  std::unique_ptr<Embedder> embedder;
  explicit IndexModelSetup(const GalleryIndex& index) {
    config = std::make_unique<Config>(load_config_text(*schema, index.model().config_yaml, index.dir().string()));
    if (!index.model().weights.empty() && !fs::exists(index.model().weights))
      throw Error(index.dir().string() + ": the index was built with " + index.model().weights + ", which no longer exists");
    embedder = std::make_unique<Embedder>(*config, index.model().weights);
    check_same_model(index, *embedder);
  }
};

std::unique_ptr<GalleryIndex> open_index(const std::string& dir) {
  auto index = std::make_unique<GalleryIndex>(dir);
  for (const auto& r : index->repairs()) spdlog::warn("{}: {}", dir, r);
  return index;
}

}  // namespace

void add_index_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("index", "A gallery of known people: build, add, remove, stats, verify");
  cmd->require_subcommand(1);

  struct BuildArgs {
    std::string config, weights, out, kind = "flat";
    ImagesArgs images;
    int ivf_lists = 0, ivf_probe = 16, hnsw_m = 32;
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
    GalleryIndex::create(build->out, {embedder.fingerprint(), run.config().to_yaml(false), weights, embedder.preprocessing(),
                                      embedder.dim()}, o);
    GalleryIndex index(build->out);
    const auto ids = enrol(index, embedder, images, ctx.show_progress());
    const IndexStats s = index.stats();
    std::printf("%s: %zu images of %lld identities (%s index, %lld-d, model %s)\n", build->out.c_str(), ids.size(),
                static_cast<long long>(s.identities), index_kind_name(s.kind), static_cast<long long>(s.dim),
                s.fingerprint.c_str());
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
    auto index = open_index(add->index);
    IndexModelSetup model(*index);
    const auto ids = enrol(*index, *model.embedder, chosen_images(add->images), ctx.show_progress());
    std::printf("%s: %zu images added, %lld in all\n", add->index.c_str(), ids.size(),
                static_cast<long long>(index->stats().items));
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
    auto index = open_index(remove->index);
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
    const IndexStats st = open_index(stats->index)->stats();
    if (stats->json) {
      std::cout << to_json(st).dump(2) << "\n";
      return;
    }
    std::printf("items %lld, identities %lld, %s index of %lld-d vectors, generation %lld\nmodel %s; %s\n",
                static_cast<long long>(st.items), static_cast<long long>(st.identities), index_kind_name(st.kind),
                static_cast<long long>(st.dim), static_cast<long long>(st.generation), st.fingerprint.c_str(),
                st.preprocessing.c_str());
    for (const auto& [domain, n] : st.domains) std::printf("  %s: %lld\n", domain.c_str(), static_cast<long long>(n));
  });

  auto verify_dir = std::make_shared<std::string>();
  auto* v = cmd->add_subcommand("verify", "Check that the FAISS index and the database agree; exit 3 if not");
  v->add_option("--index", *verify_dir, "Index folder")->required();
  v->callback([verify_dir, &ctx] {
    auto index = open_index(*verify_dir);
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
    std::string index;
    ServiceOptions service;
    double max_upload_mb = 10;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--index", args->index, "Index folder")->required();
  cmd->add_option("--host", args->service.host, "Address to listen on (default loopback only)");
  cmd->add_option("--port", args->service.port, "Port (0: any free one)")->check(CLI::Range(0, 65535));
  cmd->add_option("--token", args->service.token, "Token required for changes (default: $TOONREID_TOKEN)");
  cmd->add_option("--threads", args->service.threads, "Request threads")->check(CLI::Range(1, 256));
  cmd->add_option("--max-upload-mb", args->max_upload_mb, "Largest upload accepted (413 above)")->check(CLI::Range(0.01, 1024.0));
  cmd->callback([args] {
    if (args->service.token.empty())
      if (const char* t = std::getenv("TOONREID_TOKEN")) args->service.token = t;
    args->service.max_upload_bytes = static_cast<std::size_t>(args->max_upload_mb * 1024 * 1024);
    auto index = open_index(args->index);
    IndexModelSetup model(*index);
    SearchService service(*index, *model.embedder, args->service);
    const int port = service.bind();
    // The first line on stdout: where to connect (port 0 picks one).
    std::printf("http://%s:%d/\n", args->service.host.c_str(), port);
    std::fflush(stdout);
    service.run();
  });
}

void add_search_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("search", "Who is this? Rank a gallery index's identities (or images) for each image");
  struct Args {
    std::string index, by = "identity";
    std::vector<std::string> images;
    int64_t top_k = 10;
    bool rerank = false, json = false;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--index", args->index, "Index folder")->required();
  cmd->add_option("images", args->images, "Query images")->required()->check(CLI::ExistingFile);
  cmd->add_option("--top-k", args->top_k, "Results per query")->check(CLI::Range(1, 100000));
  cmd->add_option("--by", args->by, "identity (best image per identity) or image")->check(CLI::IsMember({"identity", "image"}));
  cmd->add_flag("--rerank", args->rerank, "k-reciprocal re-ranking of the retrieved candidates");
  cmd->add_flag("--json", args->json, "Print JSON");
  cmd->callback([args] {
    auto index = open_index(args->index);
    IndexModelSetup model(*index);
    std::vector<ImageRecord> records;
    for (const auto& p : args->images) records.emplace_back(p, "?", Domain::Cartoon);
    SearchOptions o;
    o.top_k = args->top_k, o.by_identity = args->by == "identity", o.rerank = args->rerank;
    const auto results = search_images(*index, *model.embedder, Dataset(std::move(records), "command line"), o);
    if (args->json) {
      std::cout << to_json(results).dump(2) << "\n";
      return;
    }
    for (const auto& r : results) {
      std::printf("%s\n", r.query.c_str());
      int rank = 0;
      for (const auto& h : r.hits)
        std::printf("  %2d. %-28s %.4f  %s\n", ++rank, h.item.identity.c_str(), h.distance, h.item.source.c_str());
    }
  });
}

}  // namespace toonreid::cli
