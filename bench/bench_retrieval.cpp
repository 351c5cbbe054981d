// toonreid's side of the retrieval comparison with NumPy (bench/compare_numpy.sh runs
// both, one process per measurement so that peak memory can be read per process):
//   bench_retrieval rerank  DIR [--out FILE] [--search exact|ivf|hnsw] [--approximate-above N]
//                               [--lists N] [--probe N] [--hnsw-m N] [--ef-search N]
//                                              k-reciprocal re-ranking (20, 6, 0.3) of q.npy vs g.npy
//                                              (+ the re-ranked mAP when ql.npy and gl.npy exist)
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
#include <spdlog/spdlog.h>

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
  torch::Tensor t = read_matrix(file).to(torch::kInt).contiguous();  // int32/int64 or float labels
  return std::vector<int>(t.data_ptr<int>(), t.data_ptr<int>() + t.numel());
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 3) {
    std::cerr << "usage: bench_retrieval rerank|metrics DIR [--out FILE] [--search exact|ivf|hnsw] ...\n";
    return 2;
  }
  ensure_fast_blas(argv);
  if (std::getenv("TOONREID_BENCH_DEBUG")) spdlog::set_level(spdlog::level::debug);
  const std::string mode = argv[1];
  const fs::path dir = argv[2];
  const char* t = std::getenv("TOONREID_BENCH_THREADS");
  set_compute_threads(t ? std::atoi(t) : 2);
  ReRankOptions rerank{20, 6, 0.3};
  std::string out_file;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--out") out_file = value;
    else if (flag == "--search") rerank.neighbours = parse_ann(value, rerank.neighbours);
    else if (flag == "--approximate-above") rerank.approximate_above = std::stoll(value);
    else if (flag == "--lists") rerank.neighbours.ivf_lists = std::stoi(value);
    else if (flag == "--probe") rerank.neighbours.ivf_probe = std::stoi(value);
    else if (flag == "--hnsw-m") rerank.neighbours.hnsw_m = std::stoi(value);
    else if (flag == "--ef-search") rerank.neighbours.hnsw_ef_search = std::stoi(value);
    else if (flag == "--ef-construction") rerank.neighbours.hnsw_ef_construction = std::stoi(value);
    else throw std::runtime_error("unknown option " + flag);
  }
  torch::Tensor q = read_matrix(dir / "q.npy").to(torch::kFloat), g = read_matrix(dir / "g.npy").to(torch::kFloat);
  nlohmann::json out{{"mode", mode}, {"queries", q.size(0)}, {"gallery", g.size(0)}, {"dim", q.size(1)}};
  std::vector<int> ql, gl;
  const bool labelled = fs::exists(dir / "ql.npy") && fs::exists(dir / "gl.npy");
  if (mode == "metrics" || labelled) ql = labels(dir / "ql.npy"), gl = labels(dir / "gl.npy");
  reset_peak();
  const double rss_before = status_mb("VmRSS");
  const auto start = std::chrono::steady_clock::now();
  if (mode == "rerank") {
    torch::Tensor d = rerank_k_reciprocal(q, g, DistanceKind::Euclidean, rerank);
    out["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    out["work_mb"] = status_mb("VmHWM") - rss_before;
    out["process_peak_mb"] = status_mb("VmHWM");
    const bool approximate = rerank.neighbours.kind != AnnKind::Exact && q.size(0) + g.size(0) > rerank.approximate_above;
    out["search"] = approximate ? describe_ann(rerank.neighbours) : "exact";
    if (labelled) out["rerank_mAP"] = evaluate_retrieval(d, ql, gl).mAP;
    if (!out_file.empty()) write_matrix(out_file, d);
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
  if (!out.contains("work_mb")) out["work_mb"] = status_mb("VmHWM") - rss_before;  // peak of the computation itself
  std::cout << out.dump() << std::endl;
  return 0;
} catch (const std::exception& e) {
  std::cerr << "bench_retrieval: error: " << e.what() << std::endl;
  return 1;
}
