// Base64 (RFC 4648, with padding): binary data inside text formats (PNG pictures in HTML
// reports, float vectors in JSON files).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace toonreid {

std::string base64_encode(const std::uint8_t* data, std::size_t size);
inline std::string base64_encode(const std::vector<std::uint8_t>& bytes) { return base64_encode(bytes.data(), bytes.size()); }
// Throws Error (naming `what`) on characters outside the alphabet or a bad length.
std::vector<std::uint8_t> base64_decode(const std::string& text, const std::string& what);

}  // namespace toonreid
