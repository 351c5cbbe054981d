// Small deterministic random number helpers.
//
// Reproducibility rule: work that may run on any thread (decoding, augmentation,
// rendering) draws from an Rng seeded by derive_seed(base, indices...) rather than
// from a shared generator, so results do not depend on thread scheduling.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <random>

namespace toonreid {

// SplitMix64 finaliser: a good 64-bit mixer for deriving independent seeds.
inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Combines a base seed with a path of indices (epoch, batch, slot, ...).
inline std::uint64_t derive_seed(std::uint64_t base, std::initializer_list<std::uint64_t> path) {
  std::uint64_t s = mix64(base);
  for (std::uint64_t v : path) s = mix64(s ^ mix64(v + 0x632BE59BD9B4E019ULL));
  return s;
}

// A seeded generator with the few draws toonreid needs.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}

  double uniform(double lo = 0.0, double hi = 1.0) {
    return std::uniform_real_distribution<double>(lo, hi)(engine_);
  }
  // Integer in [lo, hi] inclusive.
  long long integer(long long lo, long long hi) {
    return std::uniform_int_distribution<long long>(lo, hi)(engine_);
  }
  double normal(double mean = 0.0, double stddev = 1.0) {
    return std::normal_distribution<double>(mean, stddev)(engine_);
  }
  bool chance(double p) { return uniform() < p; }

  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
};

}  // namespace toonreid
