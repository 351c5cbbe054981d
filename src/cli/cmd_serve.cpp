// toonreid serve  --index INDEX_DIR [--host H] [--port P] [--token T | --token-file F] [service limits]
// toonreid search --index INDEX_DIR IMAGE... [--top-k 10] [--by identity|image] [--rerank] [--json]
//                 [--fpir F | --threshold T] [--largest-face] [--fallback]
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "core/error.h"
#include "data/image_io.h"
#include "recipe/index_setup.h"
#include "serve/gallery_search.h"
#include "serve/http_service.h"

namespace toonreid::cli {

namespace fs = std::filesystem;

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
