// NumPy .npy files (format 1.0, little-endian float32, C order), so Python users can
// np.load() toonreid's features and distance matrices.
#pragma once

#include <filesystem>

#include <torch/types.h>

namespace toonreid {

// Writes a float tensor (any shape) atomically.
void write_npy(const std::filesystem::path& file, const torch::Tensor& tensor);
// Reads a float32 (or float64, converted) C-order .npy file.
torch::Tensor read_npy(const std::filesystem::path& file);

}  // namespace toonreid
