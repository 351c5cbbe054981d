#include "core/base64.h"

#include <algorithm>
#include <array>

#include "core/error.h"

namespace toonreid {

namespace {
const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}  // namespace

std::string base64_encode(const std::uint8_t* p, std::size_t n) {
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (std::size_t i = 0; i < n; i += 3) {
    const std::uint32_t v = (std::uint32_t(p[i]) << 16) | (i + 1 < n ? std::uint32_t(p[i + 1]) << 8 : 0) |
                            (i + 2 < n ? std::uint32_t(p[i + 2]) : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < n ? kAlphabet[v & 63] : '=';
  }
  return out;
}

std::vector<std::uint8_t> base64_decode(const std::string& s, const std::string& what) {
  std::array<int, 256> map;
  map.fill(-1);
  for (int i = 0; i < 64; ++i) map[static_cast<unsigned char>(kAlphabet[i])] = i;
  if (s.size() % 4) throw Error(what + ": base64 text of " + std::to_string(s.size()) + " characters (not a multiple of 4)");
  std::vector<std::uint8_t> out;
  out.reserve(s.size() / 4 * 3);
  for (std::size_t i = 0; i < s.size(); i += 4) {
    std::uint32_t w = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = s[i + k];
      const bool pad = c == '=' && i + 4 == s.size() && k >= 2 && (k == 3 || s[i + 3] == '=');
      const int v = pad ? 0 : map[static_cast<unsigned char>(c)];
      if (v < 0) throw Error(what + ": not base64 (character " + std::to_string(i + k) + ")");
      w = (w << 6) | static_cast<std::uint32_t>(v);
    }
    out.push_back(static_cast<std::uint8_t>(w >> 16));
    if (s[i + 2] != '=') out.push_back(static_cast<std::uint8_t>(w >> 8));
    if (s[i + 3] != '=') out.push_back(static_cast<std::uint8_t>(w));
  }
  return out;
}

}  // namespace toonreid
