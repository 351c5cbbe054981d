// NumPy .npy files (format 1.0, little-endian, C order), so Python users can np.load()
// toonreid's features and distance matrices, and toonreid reads their labels.
#pragma once

#include <filesystem>

#include <torch/types.h>

namespace toonreid {

// Writes a tensor (any shape) atomically: int32, int64 and uint8 as they are, every
// other type as float32.
void write_npy(const std::filesystem::path& file, const torch::Tensor& tensor);
// Reads a C-order .npy file: float32 and float64 (converted) as float32; int8, int16,
// int32, int64, uint8 and bool as they are. Other types throw Error naming the dtype.
torch::Tensor read_npy(const std::filesystem::path& file);

}  // namespace toonreid
