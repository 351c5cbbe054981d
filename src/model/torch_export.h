// A model's embedding network as a file that Python's torch.load reads: LibTorch's
// pickle_save zip format holding Python built-ins and tensors only, so that
// torch.load(file, weights_only=True) accepts it and nothing in it runs code.
//
//   {"format": "toonreid.export/1",
//    "meta": "{...}",                     // JSON text: what the reader needs to rebuild the network
//    "state_dict": {name: tensor, ...}}   // PyTorch's names: backbone.*, head.bnneck.*
//
// The classifier (head.classifier.*) is left out: it scores training identities and
// plays no part in an embedding. python/toonreid_torch reads these files.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "model/reid_model.h"

namespace toonreid {

inline constexpr const char* kTorchExportFormat = "toonreid.export/1";

// Writes `model`'s parameters and buffers (CPU float copies, on any device) and `meta`
// (objects, arrays, strings, numbers, booleans) to `file`, atomically. Throws Error
// naming the file when it cannot be written.
void write_torch_export(ReidModel& model, const nlohmann::json& meta, const std::filesystem::path& file);

// The state-dict entries write_torch_export keeps (for tests and readers).
bool exported_entry(const std::string& name);

}  // namespace toonreid
