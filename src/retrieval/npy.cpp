#include "retrieval/npy.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace toonreid {

void write_npy(const std::filesystem::path& file, const torch::Tensor& tensor) {
  torch::Tensor t = tensor.to(torch::kCPU, torch::kFloat).contiguous();
  std::ostringstream shape;
  shape << "(";
  for (int64_t i = 0; i < t.dim(); ++i) shape << t.size(i) << (t.dim() == 1 || i + 1 < t.dim() ? "," : "");
  shape << ")";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape.str() + ", }";
  // Magic (6) + version (2) + length (2) + header + newline, padded to a multiple of 64.
  const std::size_t unpadded = 10 + header.size() + 1;
  header += std::string((64 - unpadded % 64) % 64, ' ') + "\n";
  write_file_atomically(file, [&](std::ostream& out) {
    out.write("\x93NUMPY\x01\x00", 8);
    const auto len = static_cast<std::uint16_t>(header.size());
    const char len_bytes[2] = {static_cast<char>(len & 0xFF), static_cast<char>(len >> 8)};
    out.write(len_bytes, 2);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(reinterpret_cast<const char*>(t.data_ptr<float>()), static_cast<std::streamsize>(t.numel() * 4));
  });
}

torch::Tensor read_npy(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error("cannot read " + file.string());
  char magic[8];
  in.read(magic, 8);
  if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0) throw Error(file.string() + ": not a .npy file");
  std::size_t len = 0;
  if (magic[6] == 1) {
    unsigned char b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    len = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<std::size_t>(b[3]) << 24);
  }
  std::string header(len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(len));
  if (header.find("'fortran_order': False") == std::string::npos) throw Error(file.string() + ": Fortran order is not supported");
  const bool f8 = header.find("'<f8'") != std::string::npos;
  if (!f8 && header.find("'<f4'") == std::string::npos) throw Error(file.string() + ": only float32/float64 arrays are supported");
  auto open = header.find('('), close = header.find(')');
  std::vector<int64_t> shape;
  std::stringstream dims(header.substr(open + 1, close - open - 1));
  for (std::string d; std::getline(dims, d, ',');)
    if (d.find_first_not_of(' ') != std::string::npos) shape.push_back(std::stoll(d));
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  torch::Tensor t = torch::empty(shape, f8 ? torch::kDouble : torch::kFloat);
  in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(numel * (f8 ? 8 : 4)));
  if (!in) throw Error(file.string() + ": truncated data");
  return t.to(torch::kFloat);
}

}  // namespace toonreid
