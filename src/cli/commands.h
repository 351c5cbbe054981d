// Sub-commands of the `toonreid` program. Each add_* function declares a command's
// options on the CLI11 app and installs its callback; the callback returns the
// process exit code through the shared Context.
#pragma once

#include <CLI/CLI.hpp>

namespace toonreid::cli {

// Options shared by every command.
struct Context {
  bool quiet = false;     // no progress bars, only warnings and errors in the log
  int verbosity = 0;      // -v: debug logging
  int exit_code = 0;
  bool show_progress() const { return !quiet; }
};

void add_config_command(CLI::App& app, Context& ctx);
void add_data_command(CLI::App& app, Context& ctx);
void add_synth_command(CLI::App& app, Context& ctx);
void add_train_command(CLI::App& app, Context& ctx);
void add_interpolate_command(CLI::App& app, Context& ctx);
void add_eval_command(CLI::App& app, Context& ctx);
void add_calibrate_command(CLI::App& app, Context& ctx);
void add_extract_command(CLI::App& app, Context& ctx);
void add_visualize_command(CLI::App& app, Context& ctx);
void add_rank_command(CLI::App& app, Context& ctx);
void add_ensemble_command(CLI::App& app, Context& ctx);
void add_mine_command(CLI::App& app, Context& ctx);
void add_pipeline_command(CLI::App& app, Context& ctx);
void add_align_command(CLI::App& app, Context& ctx);
void add_index_command(CLI::App& app, Context& ctx);
void add_search_command(CLI::App& app, Context& ctx);
void add_scan_command(CLI::App& app, Context& ctx);
void add_serve_command(CLI::App& app, Context& ctx);
void add_launch_command(CLI::App& app, Context& ctx);
void add_export_command(CLI::App& app, Context& ctx);

}  // namespace toonreid::cli
