// Helpers shared by the tests: temporary folders and small image files.
#pragma once

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <cstdint>
#include <string>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <opencv2/core.hpp>

namespace toonreid::testing {

// A fresh folder under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("toonreid_test_" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// A colourful test pattern, w x h, RGB.
inline cv::Mat test_pattern(int w, int h, int seed = 0) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      m.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>((x * 255) / w), static_cast<uchar>((y * 255) / h),
                                        static_cast<uchar>((x + y + seed * 37) % 256));
  return m;
}

inline std::string source_dir() { return TOONREID_SOURCE_DIR; }

// A localhost TCP port nobody listens on now (the kernel's pick for port 0).
inline int free_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  return ntohs(a.sin_port);
}

// The whole content of a file ("" when it cannot be read).
inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// CRC-32 (PNG's, zlib's), for hand-made PNG chunks.
inline std::uint32_t crc32_of(const std::string& bytes) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : bytes) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

// A tiny PNG whose header declares w x h pixels (a "decompression bomb": the pixel data
// that follows is a few bytes, so decoding it would first allocate w x h x 3 bytes).
inline std::string png_declaring(std::uint32_t w, std::uint32_t h) {
  auto be32 = [](std::uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
  };
  auto chunk = [&](const std::string& type, const std::string& data) {
    return be32(static_cast<std::uint32_t>(data.size())) + type + data + be32(crc32_of(type + data));
  };
  const std::string ihdr = be32(w) + be32(h) + std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB
  const std::string idat("\x78\x9c\x63\x00\x00\x00\x01\x00\x01", 9);                 // zlib of a zero byte
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + chunk("IDAT", idat) + chunk("IEND", "");
}

// A JPEG (of `jpeg`'s bytes) whose frame header is rewritten to declare w x h pixels.
inline std::string jpeg_declaring(std::string jpeg, std::uint16_t w, std::uint16_t h) {
  for (std::size_t i = 2; i + 9 < jpeg.size(); ++i)
    if (static_cast<unsigned char>(jpeg[i]) == 0xFF && (static_cast<unsigned char>(jpeg[i + 1]) & 0xF0) == 0xC0 &&
        static_cast<unsigned char>(jpeg[i + 1]) != 0xC4 && static_cast<unsigned char>(jpeg[i + 1]) != 0xC8 &&
        static_cast<unsigned char>(jpeg[i + 1]) != 0xCC) {
      jpeg[i + 5] = static_cast<char>(h >> 8), jpeg[i + 6] = static_cast<char>(h & 0xFF);
      jpeg[i + 7] = static_cast<char>(w >> 8), jpeg[i + 8] = static_cast<char>(w & 0xFF);
      return jpeg;
    }
  return jpeg;
}

// ../shared/data/cavi beside the project checkout, when present.
inline std::filesystem::path cavi_root() {
  return std::filesystem::path(TOONREID_SOURCE_DIR) / ".." / "shared" / "data" / "cavi";
}

}  // namespace toonreid::testing
