// Command-line options that choose images from a data set or a manifest (index build,
// index add, scan).
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "data/dataset.h"

namespace toonreid::cli {

struct ImagesArgs {
  std::string data, manifest, split, domain = "all";
};

void add_images_args(CLI::App* cmd, ImagesArgs& args);
// The chosen records; throws Error when none is given or none is selected.
Dataset chosen_images(const ImagesArgs& args);

}  // namespace toonreid::cli
