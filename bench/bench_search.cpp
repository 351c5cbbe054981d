// Top-10 search in the gallery index's FAISS structures, side by side in one run: 10^4,
// 10^5 and 10^6 clustered unit vectors (128-d; 2048-d up to 10^5 - 10^6 x 2048 floats
// would be 8 GB), exact (flat) against IVF and HNSW with the index's defaults: build
// time, size of the structure (as FAISS writes it), latency per query (1,000 queries one at a time, one
// thread, as a server request does it) and recall@10 against exact.
//   bench_search [--max N] [--min N] [--dim D] [--queries Q]
#include <faiss/Index.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <set>
#include <string>

#include <torch/torch.h>

#include "core/runtime.h"
#include "serve/gallery_index.h"

using namespace toonreid;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) try {
  ensure_fast_blas(argv);
  int64_t max_n = 1000000, min_n = 0, nq = 1000, only_dim = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--max") max_n = std::stoll(argv[i + 1]);
    else if (flag == "--queries") nq = std::stoll(argv[i + 1]);
    else if (flag == "--min") min_n = std::stoll(argv[i + 1]);
    else if (flag == "--dim") only_dim = std::stoll(argv[i + 1]);
    else throw std::runtime_error("unknown option " + flag);
  }
  set_compute_threads(0);
  std::printf("%-6s %8s %-5s %9s %9s %11s %11s %10s\n", "dim", "N", "kind", "build s", "memory MB", "p50 ms/q", "p99 ms/q", "recall@10");
  for (int64_t dim : {128, 2048})
    for (int64_t n : {10000, 100000, 1000000}) {
      if (n > max_n || n < min_n || (only_dim && dim != only_dim) || (dim == 2048 && n > 100000)) continue;
      torch::manual_seed(static_cast<uint64_t>(n + dim));
      const int64_t ids = n / 10;
      const torch::Tensor centres = torch::randn({ids, 64});
      const torch::Tensor projection = torch::randn({64, dim}) / 8.0;  // 64-d intrinsic structure
      auto draw = [&](int64_t count) {
        torch::Tensor x = (centres.index_select(0, torch::randint(0, ids, {count})) + 0.7 * torch::randn({count, 64})).mm(projection);
        x += 0.05 * torch::randn({count, dim});
        return (x / x.norm(2, 1, true)).contiguous();
      };
      const torch::Tensor base = draw(n), queries = draw(nq);
      std::vector<faiss::Index::idx_t> item_ids(static_cast<std::size_t>(n));
      for (int64_t i = 0; i < n; ++i) item_ids[static_cast<std::size_t>(i)] = i + 1;
      std::vector<std::set<faiss::Index::idx_t>> truth;
      for (AnnKind kind : {AnnKind::Exact, AnnKind::Ivf, AnnKind::Hnsw}) {
        IndexOptions o;
        o.kind = kind;
        const auto t0 = std::chrono::steady_clock::now();
        auto index = make_search_structure(o, dim, base.data_ptr<float>(), n);
        index->add_with_ids(n, base.data_ptr<float>(), item_ids.data());
        const double build = seconds_since(t0);
        faiss::VectorIOWriter writer;  // the structure's size as FAISS serialises it (vectors, lists, graph)
        faiss::write_index(index.get(), &writer);
        const double memory = static_cast<double>(writer.data.size()) / (1024.0 * 1024.0);
        at::set_num_threads(1);
        std::vector<double> latency;
        std::vector<float> d(10);
        std::vector<faiss::Index::idx_t> found(10);
        double hits = 0;
        for (int64_t q = 0; q < nq; ++q) {
          const auto tq = std::chrono::steady_clock::now();
          index->search(1, queries.data_ptr<float>() + q * dim, 10, d.data(), found.data());
          latency.push_back(1000 * seconds_since(tq));
          if (kind == AnnKind::Exact) truth.emplace_back(found.begin(), found.end());
          for (auto f : found) hits += truth[static_cast<std::size_t>(q)].count(f);
        }
        set_compute_threads(0);
        std::sort(latency.begin(), latency.end());
        std::printf("%-6lld %8lld %-5s %9.2f %9.0f %11.3f %11.3f %10.4f\n", static_cast<long long>(dim), static_cast<long long>(n),
                    ann_kind_name(kind), build, memory, latency[latency.size() / 2],
                    latency[std::min(latency.size() - 1, latency.size() * 99 / 100)], hits / (10.0 * static_cast<double>(nq)));
        std::fflush(stdout);
      }
    }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "bench_search: error: " << e.what() << std::endl;
  return 1;
}
