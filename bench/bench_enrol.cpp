// Enrolment into a gallery index that already holds N vectors: time and bytes written
// per enrolment of 1 and of 100 images (embedding excluded), and the time to reopen the
// index after 10,000 appended rows. Uses only the GalleryIndex calls every version has,
// so that bench/enrol_before_after.sh can build it against an earlier commit too and
// run both side by side.
//   bench_enrol --n N --dim D [--kind flat|hnsw] [--repeats R] [--appended A]
// Bytes written: this process's write() bytes (/proc/self/io wchar), SQLite and FAISS
// files together.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/runtime.h"
#include "serve/gallery_index.h"

using namespace toonreid;
namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

int64_t written_bytes() {
  std::ifstream in("/proc/self/io");
  std::string key;
  int64_t value = 0;
  while (in >> key >> value)
    if (key == "wchar:") return value;
  return -1;
}

std::vector<GalleryItem> items(int64_t n, int64_t first) {
  std::vector<GalleryItem> out;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = first + i;
    out.push_back({0, "P" + std::to_string(k / 10), "photo", "/img/" + std::to_string(k) + ".jpg", "h", 0});
  }
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) try {
  ensure_fast_blas(argv);
  int64_t n = 10000, dim = 128, repeats = 5, appended = 10000;
  std::string kind = "flat";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--n") n = std::stoll(argv[i + 1]);
    else if (flag == "--dim") dim = std::stoll(argv[i + 1]);
    else if (flag == "--kind") kind = argv[i + 1];
    else if (flag == "--repeats") repeats = std::stoll(argv[i + 1]);
    else if (flag == "--appended") appended = std::stoll(argv[i + 1]);
    else throw std::runtime_error("unknown option " + flag);
  }
  set_compute_threads(0);
  const fs::path dir = fs::temp_directory_path() / ("toonreid_bench_enrol_" + std::to_string(std::random_device{}()));
  IndexOptions options;
  options.kind = parse_ann_kind(kind);
  GalleryIndex::create(dir, {"bench", "", "", "bench vectors", dim}, options);
  torch::manual_seed(1);
  int64_t next = 0;
  auto vectors = [&](int64_t count) { return torch::randn({count, dim}); };
  const auto t_build = std::chrono::steady_clock::now();
  {
    GalleryIndex index(dir);
    index.add(items(n, next), vectors(n));  // one change: every version writes it once
    next += n;
  }
  const double build_s = seconds_since(t_build);
  std::vector<double> one_ms, one_mb, hundred_ms, hundred_mb;
  {
    GalleryIndex index(dir);
    for (int64_t r = 0; r < repeats; ++r) {
      for (int64_t count : {int64_t{1}, int64_t{100}}) {
        const torch::Tensor v = vectors(count);
        const auto batch = items(count, next);
        next += count;
        const int64_t w0 = written_bytes();
        const auto t0 = std::chrono::steady_clock::now();
        index.add(batch, v);
        const double ms = 1000 * seconds_since(t0), mb = static_cast<double>(written_bytes() - w0) / 1e6;
        (count == 1 ? one_ms : hundred_ms).push_back(ms);
        (count == 1 ? one_mb : hundred_mb).push_back(mb);
      }
    }
  }
  // Reopen after `appended` rows added one enrolment of 100 at a time.
  double reopen_s = 0;
  if (appended > 0) {
    {
      GalleryIndex index(dir);
      for (int64_t done = 0; done < appended; done += 100) {
        index.add(items(100, next), vectors(100));
        next += 100;
      }
    }
    const auto t0 = std::chrono::steady_clock::now();
    GalleryIndex index(dir);
    reopen_s = seconds_since(t0);
  }
  std::printf("%-5s %5lld %8lld  build %.1f s  enrol 1: %.2f ms %.3f MB  enrol 100: %.2f ms %.3f MB  reopen after %lld rows: %.2f s\n",
              kind.c_str(), static_cast<long long>(dim), static_cast<long long>(n), build_s, median(one_ms), median(one_mb),
              median(hundred_ms), median(hundred_mb), static_cast<long long>(appended), reopen_s);
  fs::remove_all(dir);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_enrol: error: %s\n", e.what());
  return 1;
}
