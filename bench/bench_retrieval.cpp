// toonreid's side of the retrieval comparison with NumPy (bench/compare_numpy.sh runs
// both, one process per measurement so that peak memory can be read per process):
//   bench_retrieval rerank  DIR [--out FILE]   k-reciprocal re-ranking (20, 6, 0.3) of q.npy vs g.npy
//   bench_retrieval metrics DIR                mAP / CMC / mINP streamed from q.npy, g.npy, ql.npy, gl.npy
// Threads: TOONREID_BENCH_THREADS (default 2). Prints one JSON object: seconds and work_mb
// (peak resident memory of the computation above what the process held before it;
// loading excluded), as the NumPy reference measures itself.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <filesystem>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/runtime.h"
#include "eval/retrieval_metrics.h"
#include "retrieval/matrix_io.h"
#include "retrieval/rerank.h"

namespace fs = std::filesystem;
using namespace toonreid;

namespace {

// kB value of a /proc/self/status field (VmRSS, VmHWM).
double status_mb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;
  return 0;
}

// Resets the peak-RSS mark, so that VmHWM afterwards is the peak of what follows.
void reset_peak() { std::ofstream("/proc/self/clear_refs") << "5"; }

std::vector<int> labels(const fs::path& file) {
  torch::Tensor t = read_matrix(file).to(torch::kInt).contiguous();
  return std::vector<int>(t.data_ptr<int>(), t.data_ptr<int>() + t.numel());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: bench_retrieval rerank|metrics DIR [--out FILE]\n";
    return 2;
  }
  ensure_fast_blas(argv);
  const std::string mode = argv[1];
  const fs::path dir = argv[2];
  const char* t = std::getenv("TOONREID_BENCH_THREADS");
  set_compute_threads(t ? std::atoi(t) : 2);
  torch::Tensor q = read_matrix(dir / "q.npy"), g = read_matrix(dir / "g.npy");
  nlohmann::json out{{"mode", mode}, {"queries", q.size(0)}, {"gallery", g.size(0)}};
  std::vector<int> ql, gl;
  if (mode == "metrics") ql = labels(dir / "ql.npy"), gl = labels(dir / "gl.npy");
  reset_peak();
  const double rss_before = status_mb("VmRSS");
  const auto start = std::chrono::steady_clock::now();
  if (mode == "rerank") {
    torch::Tensor d = rerank_k_reciprocal(q, g, DistanceKind::Euclidean, {20, 6, 0.3});
    out["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (argc >= 5 && std::string(argv[3]) == "--out") write_matrix(argv[4], d);
  } else if (mode == "metrics") {
    RetrievalMetrics m = evaluate_retrieval(q, g, DistanceKind::Euclidean, ql, gl);
    out["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    out["mAP"] = m.mAP;
    out["mINP"] = m.mINP;
    out["rank1"] = m.rank(1);
    out["evaluated"] = m.queries;
  } else {
    std::cerr << "unknown mode " << mode << "\n";
    return 2;
  }
  out["work_mb"] = status_mb("VmHWM") - rss_before;  // peak memory of the computation itself
  std::cout << out.dump() << std::endl;
  return 0;
}
