// main() of the Google Benchmark programs: an error (missing data, a corrupt file, a bad
// option) ends the program with its message and exit code 1 instead of an abort on an
// uncaught exception.
#pragma once

#include <benchmark/benchmark.h>

#include <exception>
#include <iostream>

#define TOONREID_BENCHMARK_MAIN()                                          \
  int main(int argc, char** argv) try {                                    \
    benchmark::Initialize(&argc, argv);                                    \
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;      \
    benchmark::RunSpecifiedBenchmarks();                                   \
    benchmark::Shutdown();                                                 \
    return 0;                                                              \
  } catch (const std::exception& e) {                                      \
    std::cerr << argv[0] << ": error: " << e.what() << std::endl;          \
    return 1;                                                              \
  }
