// Pseudo-labelling a split as `toonreid mine` does it, shared with the pipeline: the
// split's caricatures are the queries, its photos the gallery.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "recipe/run_setup.h"

namespace toonreid {

// Mines `r` with `method` ("identity" or "kmeans") and the config's mining.* settings;
// writes pseudo_labels.csv and mining.json into `out` and returns mining.json's content
// (counts, parameters and the pseudo-labels' quality against the split's identities).
nlohmann::json mine_split(const SplitRetrieval& r, const Config& config, const std::string& method,
                          const std::filesystem::path& out);

}  // namespace toonreid
