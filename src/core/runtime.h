// Process-wide runtime settings a command applies once at start-up: log level and
// the number of CPU threads LibTorch may use (Debian's LibTorch defaults to 1).
#pragma once

#include <string>

namespace toonreid {

class ConfigSchema;

// Declares the `run` section: seed, threads, output folder.
void add_run_options(ConfigSchema& schema);

// Number of cores this process may run on (respects affinity masks and cgroups' cpusets).
int available_cores();

// Makes glibc keep freed memory for reuse instead of returning large blocks to the
// system at once: convolution activations of tens of MB are otherwise mapped fresh for
// every image, and the page faults cost more than the arithmetic (face detection ran
// 1.8x faster on one thread). Peak memory is unchanged; it is just not given back early.
void keep_freed_memory();

// Sets LibTorch's intra-op thread count; threads <= 0 means all available cores, shared
// with the other processes of a data-parallel job on this machine (LOCAL_WORLD_SIZE).
// Returns the count in effect.
int set_compute_threads(int threads);

// OpenBLAS chooses its kernels from the CPU model at load time. On virtual machines that
// report a generic model (as here) it falls back to its SSE3 "Prescott" kernels although
// the CPU has AVX-512: single-precision matrix products were 5.4x slower. When that
// happens (and OPENBLAS_CORETYPE is unset), this re-executes the program with
// OPENBLAS_CORETYPE naming what the CPU supports; it returns normally otherwise.
// Call first thing in main(). Setting OPENBLAS_CORETYPE yourself disables it.
void ensure_fast_blas(char** argv);

// The OpenBLAS kernel in use ("SkylakeX", "Haswell", ...), or "" when the BLAS is not OpenBLAS.
std::string blas_kernel();
// The kernel the CPU supports ("SkylakeX" with AVX-512, "Haswell" with AVX2 + FMA, else "").
std::string best_blas_kernel();

// verbosity: -1 quiet (warnings and errors), 0 normal, 1 debug.
void configure_logging(int verbosity);

}  // namespace toonreid
