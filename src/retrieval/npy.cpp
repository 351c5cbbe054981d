#include "retrieval/npy.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace toonreid {

namespace {

// NumPy's type string of a tensor dtype toonreid writes as is; others go out as float32.
const char* npy_type(torch::ScalarType t) {
  switch (t) {
    case torch::kInt: return "<i4";
    case torch::kLong: return "<i8";
    case torch::kByte: return "|u1";
    default: return "<f4";
  }
}

}  // namespace

void write_npy(const std::filesystem::path& file, const torch::Tensor& tensor) {
  const char* type = npy_type(tensor.scalar_type());
  torch::Tensor t = tensor.to(torch::kCPU, std::string(type) == "<f4" ? torch::kFloat : tensor.scalar_type()).contiguous();
  std::ostringstream shape;
  shape << "(";
  for (int64_t i = 0; i < t.dim(); ++i) shape << t.size(i) << (t.dim() == 1 || i + 1 < t.dim() ? "," : "");
  shape << ")";
  std::string header = std::string("{'descr': '") + type + "', 'fortran_order': False, 'shape': " + shape.str() + ", }";
  // Magic (6) + version (2) + length (2) + header + newline, padded to a multiple of 64.
  const std::size_t unpadded = 10 + header.size() + 1;
  header += std::string((64 - unpadded % 64) % 64, ' ') + "\n";
  write_file_atomically(file, [&](std::ostream& out) {
    out.write("\x93NUMPY\x01\x00", 8);
    const auto len = static_cast<std::uint16_t>(header.size());
    const char len_bytes[2] = {static_cast<char>(len & 0xFF), static_cast<char>(len >> 8)};
    out.write(len_bytes, 2);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
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
  const auto file_size = static_cast<int64_t>(std::filesystem::file_size(file));
  if (!in || static_cast<int64_t>(len) > file_size) throw Error(file.string() + ": truncated .npy header");
  std::string header(len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(len));
  if (!in) throw Error(file.string() + ": truncated .npy header");
  const int64_t data_offset = static_cast<int64_t>(in.tellg());
  if (header.find("'fortran_order': False") == std::string::npos) throw Error(file.string() + ": Fortran order is not supported");
  // 'descr': byte order, kind, size; e.g. '<f4', '<i8', '|u1'.
  const auto d = header.find("'descr'");
  const auto q = d == std::string::npos ? d : header.find('\'', header.find(':', d));
  const std::string descr = q == std::string::npos ? "" : header.substr(q + 1, header.find('\'', q + 1) - q - 1);
  struct Type {
    const char* descr;
    torch::ScalarType read, result;  // as stored, as returned
  };
  static const Type kTypes[] = {{"<f4", torch::kFloat, torch::kFloat},  {"<f8", torch::kDouble, torch::kFloat},
                                {"<i4", torch::kInt, torch::kInt},      {"<i8", torch::kLong, torch::kLong},
                                {"<i2", torch::kShort, torch::kShort},  {"|i1", torch::kChar, torch::kChar},
                                {"|u1", torch::kByte, torch::kByte},    {"|b1", torch::kBool, torch::kBool}};
  const Type* type = nullptr;
  for (const auto& t : kTypes)
    if (descr == t.descr) type = &t;
  if (!type)
    throw Error(file.string() + ": dtype '" + descr +
                "' is not supported (float32, float64, int8/16/32/64, uint8, bool; little-endian)");
  auto open = header.find('('), close = header.find(')');
  if (open == std::string::npos || close == std::string::npos || close < open) throw Error(file.string() + ": no shape in the header");
  std::vector<int64_t> shape;
  std::stringstream dims(header.substr(open + 1, close - open - 1));
  try {
    for (std::string d; std::getline(dims, d, ',');)
      if (d.find_first_not_of(' ') != std::string::npos) {
        std::size_t used = 0;
        const long long v = std::stoll(d, &used);
        if (v < 0 || d.find_first_not_of(' ', d.find_first_not_of(' ') + used) != std::string::npos) throw std::invalid_argument(d);
        shape.push_back(v);
      }
  } catch (const std::logic_error&) {
    throw Error(file.string() + ": the header's shape is not a list of sizes");
  }
  // The sizes the header claims must be in the file before anything is allocated for them.
  int64_t elements = 1;
  const int64_t element_size = static_cast<int64_t>(c10::elementSize(type->read));
  for (int64_t s : shape) {
    if (s != 0 && elements > (file_size / element_size) / s) {
      elements = -1;
      break;
    }
    elements *= s;
  }
  if (elements < 0 || elements * element_size > file_size - data_offset)
    throw Error(file.string() + ": the header claims shape (" + header.substr(open + 1, close - open - 1) + "), more than the " +
                std::to_string(file_size - data_offset) + " bytes of data the file holds");
  const int64_t numel = elements;
  torch::Tensor t = torch::empty(shape, type->read);
  in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(numel * static_cast<int64_t>(t.element_size())));
  if (!in) throw Error(file.string() + ": truncated data");
  return t.to(type->result);
}

}  // namespace toonreid
