// One training run as `toonreid train` does it (data selection, hooks, initialisation,
// resume), shared by the train and pipeline commands.
#pragma once

#include <filesystem>
#include <string>

#include "recipe/run_setup.h"

namespace toonreid {

// Trains into `out` and returns the final checkpoint (out/model_final.pt). `resume`: a
// checkpoint or a run folder (its checkpoints/last.pt), or empty.
std::filesystem::path run_training(const RunSetup& run, const std::filesystem::path& out, const std::string& resume,
                                   bool progress);

}  // namespace toonreid
