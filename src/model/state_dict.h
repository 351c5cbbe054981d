// Loading PyTorch state dicts saved by torch.save (the zip format) into toonreid
// modules, for users who own torchvision / IBN-Net ImageNet weights.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <torch/nn/module.h>

namespace toonreid {

struct StateDictReport {
  std::vector<std::string> loaded;
  std::vector<std::string> missing;     // module entries the file does not have
  std::vector<std::string> unexpected;  // file entries the module does not have
  std::vector<std::string> skipped;     // classifier entries of another size, skipped
};

// Reads a state dict (dict or OrderedDict of tensors, as torch.save writes it), also when
// wrapped as {"state_dict": ...} or {"model": ...}. A "module." prefix (DataParallel) is
// removed. Throws Error naming the file.
std::vector<std::pair<std::string, torch::Tensor>> read_state_dict(const std::filesystem::path& file);

// Copies matching entries (parameters and buffers) into `module`. A shape mismatch is an
// error naming the key, except for classifier layers (names starting with `fc.` or
// `classifier.`), which are skipped and reported. With `strict`, missing entries are an
// error too; unexpected ones never are (ImageNet files carry an `fc` layer).
StateDictReport load_state_dict(torch::nn::Module& module, const std::filesystem::path& file, bool strict = false);

}  // namespace toonreid
