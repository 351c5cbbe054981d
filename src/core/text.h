// Text that comes from outside (file names, identity names, uploads): checks and safe
// forms for messages and JSON, which must never fail on what a user stored.
#pragma once

#include <string>

namespace toonreid {

// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates, <= U+10FFFF).
bool is_valid_utf8(const std::string& s);

// `s` with every byte that is not part of valid UTF-8, and every control character,
// written as \xNN: printable in a terminal, a log or a JSON string.
std::string printable(const std::string& s);

// Why `name` cannot be an identity name (empty when it can): 1 to 200 bytes of UTF-8
// without control characters or a leading / trailing space.
std::string identity_name_problem(const std::string& name);

}  // namespace toonreid
