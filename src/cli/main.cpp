// toonreid <command> [options]: the command-line front end of the toonreid library.
#include <cstdio>
#include <exception>
#include <iostream>

#include "cli/commands.h"
#include "core/dist_env.h"
#include "core/error.h"
#include "core/runtime.h"

int main(int argc, char** argv) {
  using namespace toonreid;
  CLI::App app{"toonreid: face recognition across cartoons, caricatures and photos"};
  app.set_version_flag("--version", "toonreid 0.1.0");
  app.require_subcommand(1);
  app.fallthrough();  // global flags (--quiet, -v) may also follow the sub-command
  cli::Context ctx;
  app.add_flag("-q,--quiet", ctx.quiet, "No progress bars; log warnings and errors only");
  app.add_flag("-v,--verbose", ctx.verbosity, "Debug logging");
  app.parse_complete_callback([&] {
    // Commands that do matrix work re-execute themselves when OpenBLAS chose slow kernels
    // (0.4 s more start-up, so not for the quick ones).
    const auto subs = app.get_subcommands();
    const std::string name = subs.empty() ? "" : subs.front()->get_name();
    if (name != "config" && name != "data" && name != "synth" && name != "launch") ensure_fast_blas(argv);
    // Under toonreid launch / torchrun only these commands share their work among ranks.
    const bool shares_work = name == "train" || name == "eval" || name == "extract" || name == "launch" || name == "scan" ||
                             (name == "index" && subs.front()->got_subcommand("build"));
    if (!shares_work && dist_env_from_environment())
      throw Error("toonreid " + name + " runs in one process; in a data-parallel job (WORLD_SIZE > 1) use train, " +
                  "eval, extract, scan or index build");
    keep_freed_memory();
    configure_logging(ctx.quiet ? -1 : ctx.verbosity > 0 ? 1 : 0);
    // Debian's LibTorch starts with one thread; commands that load a config apply run.threads.
    set_compute_threads(0);
  });

  cli::add_config_command(app, ctx);
  cli::add_data_command(app, ctx);
  cli::add_align_command(app, ctx);
  cli::add_index_command(app, ctx);
  cli::add_search_command(app, ctx);
  cli::add_scan_command(app, ctx);
  cli::add_serve_command(app, ctx);
  cli::add_synth_command(app, ctx);
  cli::add_train_command(app, ctx);
  cli::add_interpolate_command(app, ctx);
  cli::add_extract_command(app, ctx);
  cli::add_eval_command(app, ctx);
  cli::add_calibrate_command(app, ctx);
  cli::add_visualize_command(app, ctx);
  cli::add_rank_command(app, ctx);
  cli::add_ensemble_command(app, ctx);
  cli::add_mine_command(app, ctx);
  cli::add_pipeline_command(app, ctx);
  cli::add_export_command(app, ctx);
  cli::add_launch_command(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "internal error: " << e.what() << "\n";
    return 2;
  }
  return ctx.exit_code;
}
