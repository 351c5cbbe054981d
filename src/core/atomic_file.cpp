#include "core/atomic_file.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>

#include "core/error.h"

namespace toonreid {

namespace fs = std::filesystem;

void write_file_atomically(const fs::path& path, const std::function<void(std::ostream&)>& write, bool durable) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  static std::atomic<unsigned> counter{0};
  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) throw Error("cannot open '" + tmp.string() + "' for writing");
      write(out);
      out.flush();
      if (!out) throw Error("failed writing '" + tmp.string() + "' (disk full?)");
    }
    // fsync so that the rename never exposes a file whose data is not on disk yet.
    if (FILE* f = durable ? std::fopen(tmp.c_str(), "rb") : nullptr) {
      ::fsync(::fileno(f));
      std::fclose(f);
    }
    fs::rename(tmp, path);
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
}

void write_file_atomically(const fs::path& path, std::string_view bytes, bool durable) {
  write_file_atomically(
      path, [&](std::ostream& out) { out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); }, durable);
}

}  // namespace toonreid
