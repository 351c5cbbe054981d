// Reads the tensors of a file written by Python's torch.save (the zip format: data.pkl
// plus one record per storage) with a small pickle interpreter of its own. LibTorch's
// torch::pickle_load cannot read collections.OrderedDict before LibTorch 2.6
// (pytorch/pytorch#100741), and model.state_dict() returns exactly that.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

namespace toonreid {

// Every (dotted key, tensor) pair of the dict the file holds; nested dicts (e.g.
// {"state_dict": {...}, "epoch": 3}) contribute their tensors under "outer.inner" keys.
// Throws Error naming the file on anything it cannot interpret.
std::vector<std::pair<std::string, torch::Tensor>> read_torch_save_tensors(const std::filesystem::path& file);

}  // namespace toonreid
