// Decodes every image of a data set to find the unreadable ones before training does.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace toonreid {

struct BadImage {
  std::string path;
  std::string reason;
};

// Decodes all records on `threads` threads (0: all cores) with strict JPEG checks.
// Returns the failures in record order. `progress(done)` is called from the calling thread.
std::vector<BadImage> verify_images(const Dataset& data, int threads,
                                    const std::function<void(std::size_t)>& progress = {});

}  // namespace toonreid
