// Saving and loading features and distance matrices. The format follows the file name:
// `.npy` is NumPy's format (np.load works); any other name gets toonreid's own binary
// format, documented in docs/retrieval.md and here:
//
//   bytes 0-7   magic "TOONMAT" followed by the version byte 0x01
//   bytes 8-11  element type, uint32 little-endian: 1 = float32
//   bytes 12-15 number of dimensions n, uint32 little-endian
//   then n uint64 little-endian sizes, then the elements, little-endian, C order.
//
// Both are written atomically (temporary file, then rename).
#pragma once

#include <filesystem>

#include <torch/types.h>

namespace toonreid {

void write_matrix(const std::filesystem::path& file, const torch::Tensor& tensor);
torch::Tensor read_matrix(const std::filesystem::path& file);

}  // namespace toonreid
