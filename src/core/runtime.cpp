#include "core/runtime.h"

#include <ATen/Parallel.h>
#include <sched.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <thread>

#include "core/config_schema.h"

namespace toonreid {

void add_run_options(ConfigSchema& schema) {
  schema.describe_section("run", "What every command shares: seed, CPU threads, output folder.");
  schema.add_int("run.seed", 0, "Seed of every random choice (sampling, augmentation, initialisation)").min(0);
  schema.add_int("run.threads", 0, "CPU threads for tensor maths (0: all available cores)").range(0, 1024);
  schema.add_string("run.output_dir", "runs/default", "Folder for checkpoints, logs and results");
}

int available_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

int set_compute_threads(int threads) {
  int n = threads > 0 ? threads : available_cores();
  at::set_num_threads(n);
  return at::get_num_threads();
}

void configure_logging(int verbosity) {
  // Logs go to stderr so that stdout carries only a command's results.
  auto logger = spdlog::get("toonreid");
  if (!logger) logger = spdlog::stderr_color_mt("toonreid");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("[%H:%M:%S] %^%l%$ %v");
  spdlog::set_level(verbosity < 0 ? spdlog::level::warn : verbosity > 0 ? spdlog::level::debug : spdlog::level::info);
}

}  // namespace toonreid
