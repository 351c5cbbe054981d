// Command-line options of every command that evaluates a model on a split.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "recipe/run_setup.h"

namespace toonreid::cli {

struct ModelArgs : SplitRequest {
  std::string config, weights;
  std::vector<std::string> overrides;
};
void add_model_args(CLI::App* cmd, ModelArgs& args, bool weights = true);

}  // namespace toonreid::cli
