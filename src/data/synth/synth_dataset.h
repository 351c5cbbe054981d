// The synthetic toon-face data set: N identities, each with K photos and K cartoons,
// written in the WebCaricature layout (images/<Identity>/P*.jpg, C*.jpg,
// splits/train.txt, splits/test.txt) with identity-disjoint splits. Deterministic for
// a seed: every image draws from its own seed (identity, domain, index), so the output
// is the same whatever the thread count.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include <opencv2/core/mat.hpp>

#include "data/dataset.h"

namespace toonreid::synth {

struct SynthOptions {
  int identities = 40;
  int photos = 8;             // per identity
  int cartoons = 8;           // per identity
  int size = 128;             // square images, pixels
  std::uint64_t seed = 0;
  double test_fraction = 0.5; // share of identities in the test split (at least one each side)
  double exaggeration_min = 0.4;  // caricature strength range
  double exaggeration_max = 1.2;
  int threads = 0;            // 0: all cores
  int jpeg_quality = 92;
};

// Identity folder name of identity i ("Toon_0001", ...).
std::string identity_name(int index);

// One image of one identity; pure function of (options.seed, identity, domain, index).
cv::Mat render_sample(const SynthOptions& options, int identity, Domain domain, int index);

// Writes the whole data set under `out` (which must be empty or absent) and returns it
// as loaded back from disk. `progress(done)` is called after each finished image.
Dataset generate(const SynthOptions& options, const std::filesystem::path& out,
                 const std::function<void(std::size_t)>& progress = {});

}  // namespace toonreid::synth
