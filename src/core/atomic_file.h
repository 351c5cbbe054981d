// Writing files so that a crash never leaves a half-written file behind: data goes
// to a temporary file in the same folder, is flushed, then renamed over the target.
#pragma once

#include <filesystem>
#include <functional>
#include <iosfwd>
#include <string_view>

namespace toonreid {

// Calls write(stream) on a temporary file next to `path`, then renames it to `path`.
// If write throws, the temporary file is removed and `path` is left untouched.
// `durable`: fsync before the rename, so that not even a power loss exposes a file whose
// data is not on disk. Files that can be made again (caches of derived images) skip it:
// an fsync per small file costs more than making the file.
void write_file_atomically(const std::filesystem::path& path,
                           const std::function<void(std::ostream&)>& write, bool durable = true);

void write_file_atomically(const std::filesystem::path& path, std::string_view bytes, bool durable = true);

}  // namespace toonreid
