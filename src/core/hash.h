// Non-cryptographic hashes: content keys (FNV-1a, the same on every machine, so cache
// keys and model fingerprints stay valid) and a fast checksum of large files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace toonreid {

// 64-bit FNV-1a over bytes.
class Fnv1a {
 public:
  void add(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) h_ = (h_ ^ p[i]) * 1099511628211ull;
  }
  // The string's bytes and a terminating zero (so that "ab" + "c" differs from "a" + "bc").
  void add(const std::string& s) { add(s.data(), s.size() + 1); }
  std::uint64_t value() const { return h_; }
  std::string hex() const;  // 16 hex digits

 private:
  std::uint64_t h_ = 1469598103934665603ull;
};

// The 16 hex digits of FNV-1a over `n` bytes.
inline std::string fnv1a_hex(const void* data, std::size_t n) {
  Fnv1a h;
  h.add(data, n);
  return h.hex();
}

// A checksum of a byte stream fed in pieces of any size, 8 bytes at a time (several
// GB/s: for the gallery's snapshot files). Not FNV: its values are its own.
class StreamChecksum {
 public:
  void add(const void* data, std::size_t n);
  std::string hex() const;  // includes the length and any trailing bytes

 private:
  void word(std::uint64_t w) { h_ = (h_ ^ w) * 0x9E3779B97F4A7C15ull, h_ ^= h_ >> 29; }
  std::uint64_t h_ = 0x243F6A8885A308D3ull;
  std::uint64_t pending_ = 0;
  std::size_t pending_bytes_ = 0, total_ = 0;
};

}  // namespace toonreid
