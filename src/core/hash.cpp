#include "core/hash.h"

#include <cstdio>
#include <cstring>

namespace toonreid {

namespace {
std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}
}  // namespace

std::string Fnv1a::hex() const { return hex64(h_); }

void StreamChecksum::add(const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  total_ += n;
  while (n > 0 && pending_bytes_ > 0) {  // finish a partial word
    pending_ |= static_cast<std::uint64_t>(*p++) << (8 * pending_bytes_);
    --n;
    if (++pending_bytes_ == 8) word(pending_), pending_ = 0, pending_bytes_ = 0;
  }
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    word(w);
  }
  for (; n > 0; --n) pending_ |= static_cast<std::uint64_t>(*p++) << (8 * pending_bytes_++);
}

std::string StreamChecksum::hex() const {
  StreamChecksum c = *this;
  if (c.pending_bytes_ > 0) c.word(c.pending_ ^ 0xFF00000000000000ull);
  c.word(static_cast<std::uint64_t>(total_));
  return hex64(c.h_);
}

}  // namespace toonreid
