// toonreid align --data ROOT --out ROOT2 [--split S] [--config C] [--workers N] [key=value ...]
#include <cstdio>
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "core/config.h"
#include "core/error.h"
#include "core/runtime.h"
#include "face/aligned_dataset.h"
#include "toonreid_schema.h"

namespace toonreid::cli {

namespace fs = std::filesystem;

void add_align_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "align", "Detect, landmark and align every face of a data set: an aligned copy in the same layout + alignment.csv");
  struct Args {
    std::string config, data, out, split;
    int workers = 0;
    std::vector<std::string> overrides;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--data", args->data, "Data set folder (WebCaricature layout) or CSV manifest")->required();
  cmd->add_option("--out", args->out, "Output folder (created; an earlier run there with the same settings is resumed)")
      ->required();
  cmd->add_option("--split", args->split, "Align only this split (default: every image)");
  cmd->add_option("--config", args->config, "YAML config whose face section to use (default: the defaults)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--workers", args->workers, "Images aligned at once (default: one per core)")->check(CLI::Range(0, 256));
  cmd->add_option("overrides", args->overrides, "Config overrides key.sub=value (face.*, run.threads)");
  cmd->callback([args, &ctx] {
    const ConfigSchema schema = toonreid_schema();
    const Config config = args->config.empty() ? make_config(schema, args->overrides)
                                               : load_config(schema, args->config, args->overrides);
    const int workers = args->workers > 0 ? args->workers : available_cores();
    const int threads = set_compute_threads(static_cast<int>(config.get_int("run.threads")));

    Dataset data = open_dataset(args->data);
    for (const auto& w : data.warnings()) spdlog::warn("{}", w);
    if (!args->split.empty()) data = data.split(args->split);
    FaceAligner aligner(face_options(config));
    AlignRunOptions run;
    run.workers = workers;
    run.progress = ctx.show_progress();
    run.max_pixels = config.get_int("input.max_pixels");
    const AlignmentSummary s = align_copy(data, args->data, aligner, args->out, run);
    std::printf("aligned %zu image(s) in %.1f s (%.1f images/s, %d workers, %d compute threads), %zu reused from an "
                "earlier run\n",
                s.aligned, s.seconds, s.seconds > 0 ? s.aligned / s.seconds : 0.0, workers, threads, s.reused);
    std::printf("paths: %s\n", s.describe().c_str());
    for (const auto& e : s.errors) std::fprintf(stderr, "could not align: %s\n", e.c_str());
    std::cout << (fs::path(args->out) / "alignment.csv").string() << "\n";
    if (s.failed > 0) ctx.exit_code = 3;
  });
}

}  // namespace toonreid::cli
