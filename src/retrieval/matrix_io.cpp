#include "retrieval/matrix_io.h"

#include <array>
#include <cstring>
#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "retrieval/npy.h"

namespace toonreid {

namespace {

constexpr std::array<char, 8> kMagic{'T', 'O', 'O', 'N', 'M', 'A', 'T', '\x01'};

bool is_npy(const std::filesystem::path& file) { return file.extension() == ".npy"; }

template <typename T>
void put_le(std::ostream& out, T v) {
  char b[sizeof(T)];
  for (std::size_t i = 0; i < sizeof(T); ++i) b[i] = static_cast<char>((static_cast<std::uint64_t>(v) >> (8 * i)) & 0xFF);
  out.write(b, sizeof(T));
}

template <typename T>
T get_le(std::istream& in, const std::filesystem::path& file) {
  unsigned char b[sizeof(T)];
  in.read(reinterpret_cast<char*>(b), sizeof(T));
  if (!in) throw DataError(file.string() + ": truncated header");
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<std::uint64_t>(b[i]) << (8 * i);
  return static_cast<T>(v);
}

}  // namespace

void write_matrix(const std::filesystem::path& file, const torch::Tensor& tensor) {
  if (is_npy(file)) return write_npy(file, tensor);
  torch::Tensor t = tensor.to(torch::kCPU, torch::kFloat).contiguous();
  write_file_atomically(file, [&](std::ostream& out) {
    out.write(kMagic.data(), kMagic.size());
    put_le<std::uint32_t>(out, 1);
    put_le<std::uint32_t>(out, static_cast<std::uint32_t>(t.dim()));
    for (int64_t i = 0; i < t.dim(); ++i) put_le<std::uint64_t>(out, static_cast<std::uint64_t>(t.size(i)));
    out.write(reinterpret_cast<const char*>(t.data_ptr<float>()), static_cast<std::streamsize>(t.numel() * 4));
  });
}

torch::Tensor read_matrix(const std::filesystem::path& file) {
  if (is_npy(file)) return read_npy(file);
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error("cannot read " + file.string());
  std::array<char, 8> magic{};
  in.read(magic.data(), magic.size());
  if (!in || magic != kMagic)
    throw DataError(file.string() + ": not a toonreid matrix file (name it .npy if it is a NumPy file)");
  if (get_le<std::uint32_t>(in, file) != 1) throw DataError(file.string() + ": unsupported element type");
  const auto dims = get_le<std::uint32_t>(in, file);
  if (dims > 8) throw DataError(file.string() + ": " + std::to_string(dims) + " dimensions");
  std::vector<int64_t> shape;
  std::uint64_t count = 1;
  for (std::uint32_t i = 0; i < dims; ++i) {
    const auto s = get_le<std::uint64_t>(in, file);
    if (s > (1ull << 40) || (s > 0 && count > (1ull << 40) / s)) throw DataError(file.string() + ": implausible size");
    shape.push_back(static_cast<int64_t>(s));
    count *= s;
  }
  torch::Tensor t = torch::empty(shape, torch::kFloat);
  in.read(reinterpret_cast<char*>(t.data_ptr<float>()), static_cast<std::streamsize>(count * 4));
  if (static_cast<std::uint64_t>(in.gcount()) != count * 4)
    throw DataError(file.string() + ": truncated: " + std::to_string(count * 4) + " data bytes expected");
  return t;
}

}  // namespace toonreid
