// toonreid scan --index INDEX_DIR (PICTURE... | --data ROOT [--split S] [--domain D] | --manifest CSV) --out REPORT_DIR
//               [--top-k 3] [--fpir F | --threshold T] [--largest-face] [--fallback] [--workers N]
#include <iostream>
#include <optional>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/image_args.h"
#include "core/error.h"
#include "recipe/index_setup.h"
#include "recipe/scan.h"

namespace toonreid::cli {

namespace fs = std::filesystem;

void add_scan_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("scan", "Identify every face in many pictures: faces.csv and an HTML contact sheet; "
                                         "resumable, and shared among the ranks under toonreid launch");
  struct Args {
    std::string index, out;
    std::vector<std::string> pictures;
    ImagesArgs images;
    ScanOptions scan;
    std::optional<double> threshold;
  };
  auto args = std::make_shared<Args>();
  args->scan.search.top_k = 3;
  cmd->add_option("--index", args->index, "Index folder")->required();
  cmd->add_option("pictures", args->pictures, "Pictures (JPEG or PNG)");
  add_images_args(cmd, args->images);
  cmd->add_option("--out", args->out, "Report folder (created; a scan with the same settings resumes in it)")->required();
  cmd->add_option("--top-k", args->scan.search.top_k, "Candidates kept per face")->check(CLI::Range(1, 1000));
  cmd->add_option("--fpir", args->scan.search.fpir, "Operating point: the false positive identification rate (calibrated index)")
      ->check(CLI::Range(1e-6, 1.0));
  cmd->add_option("--threshold", args->threshold, "An explicit decision threshold on the index's score instead")->excludes("--fpir");
  cmd->add_flag("--largest-face", args->scan.faces.largest_only, "One face per picture: the largest found");
  cmd->add_flag("--fallback", args->scan.faces.fallback, "No face found: search the whole picture as one face");
  cmd->add_option("--workers", args->scan.workers, "Pictures handled at once (default: one per core)")->check(CLI::Range(1, 256));
  cmd->callback([args, &ctx] {
    std::vector<fs::path> pictures;
    if (!args->pictures.empty() && (!args->images.data.empty() || !args->images.manifest.empty()))
      throw Error("scan: give pictures, or --data / --manifest, not both");
    if (args->pictures.empty()) {
      const Dataset chosen = chosen_images(args->images);  // named: records() refers into it
      for (const auto& r : chosen.records()) pictures.push_back(r.source_path());
    } else {
      for (const auto& p : args->pictures) {
        if (!fs::exists(p)) throw Error(p + ": no such file");
        pictures.emplace_back(p);
      }
    }
    IndexSetup setup(args->index, OpenMode::ReadOnly);
    RunSetup& run = const_cast<RunSetup&>(setup.run());
    run.join_job();  // under toonreid launch / torchrun: the ranks share the pictures
    args->scan.search.threshold = args->threshold;
    args->scan.progress = ctx.show_progress();
    if (!setup.index().calibration() && !args->threshold)
      spdlog::warn("{}: the index is uncalibrated: faces get their top-{} candidates, no match / unknown decision "
                   "(index calibrate, or --threshold)", args->index, args->scan.search.top_k);
    const ScanSummary s = scan_pictures(setup.index(), setup.embedder(), pictures, args->out, args->scan, run.process_group().get());
    if (run.is_main()) {
      std::cout << s.describe() << "\n" << (fs::path(args->out) / "report.html").string() << "\n";
      if (s.unreadable > 0) {
        std::cerr << s.unreadable << " picture(s) could not be read: " << (fs::path(args->out) / "unreadable.csv").string() << "\n";
        ctx.exit_code = 3;
      }
    }
    run.finish_job();
  });
}

}  // namespace toonreid::cli
