// Process-wide runtime settings a command applies once at start-up: log level and
// the number of CPU threads LibTorch may use (Debian's LibTorch defaults to 1).
#pragma once

namespace toonreid {

class ConfigSchema;

// Declares the `run` section: seed, threads, output folder.
void add_run_options(ConfigSchema& schema);

// Number of cores this process may run on (respects affinity masks and cgroups' cpusets).
int available_cores();

// Sets LibTorch's intra-op thread count; threads <= 0 means all available cores.
// Returns the count in effect.
int set_compute_threads(int threads);

// verbosity: -1 quiet (warnings and errors), 0 normal, 1 debug.
void configure_logging(int verbosity);

}  // namespace toonreid
