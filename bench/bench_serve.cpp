// Load on `toonreid serve`'s search over loopback, side by side in one run: a gallery of
// 10,000 clustered 128-d unit vectors (exact index; the model: configs/synth_demo.yaml's
// dlib network, 128-d), and a bounded client of our own with 1, 8 and 32 concurrent
// connections, each sending a fixed number of requests:
//   - POST /api/search/embedding: the index search alone (no image decoding or network);
//   - POST /api/search with a JPEG: decoding, the face network and the search, by two
//     services on the same index side by side: each request's picture embedded alone,
//     and concurrent requests' pictures embedded together (a 5 ms batching window);
//     rounds alternate between the two, --rounds times, medians reported.
// --align: the model aligns faces first (detection, landmarks, chip), as a face gallery
// would; otherwise the whole picture is embedded.
// Prints requests/s, p50 / p99 latency (ms, as the client sees it) and errors.
//   bench_serve [--requests N] [--image-requests N] [--gallery N] [--rounds R] [--align]
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "core/config.h"
#include "core/runtime.h"
#include "data/synth/synth_dataset.h"
#include "serve/embedder.h"
#include "serve/gallery_index.h"
#include "serve/http_service.h"
#include "toonreid_schema.h"

namespace fs = std::filesystem;
using namespace toonreid;

namespace {

struct Load {
  double seconds = 0;
  std::vector<double> latencies_ms;
  int errors = 0;
};

Load run_load(int port, int clients, int per_client, const std::function<httplib::Result(httplib::Client&, int)>& send) {
  Load load;
  std::mutex m;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      client.set_read_timeout(60, 0);
      std::vector<double> mine;
      int errors = 0;
      for (int i = 0; i < per_client; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        auto r = send(client, c * per_client + i);
        mine.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        if (!r || r->status != 200) ++errors;
      }
      std::lock_guard lock(m);
      load.latencies_ms.insert(load.latencies_ms.end(), mine.begin(), mine.end());
      load.errors += errors;
    });
  for (auto& t : threads) t.join();
  load.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::sort(load.latencies_ms.begin(), load.latencies_ms.end());
  return load;
}

double percentile(const std::vector<double>& v, double p) {
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

int main(int argc, char** argv) try {
  ensure_fast_blas(argv);
  int requests = 400, image_requests = 40, gallery = 10000, rounds = 3;
  bool align = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--align") {
      align = true;
      continue;
    }
    if (i + 1 >= argc) throw std::runtime_error("option " + flag + " needs a value");
    if (flag == "--requests") requests = std::stoi(argv[++i]);
    else if (flag == "--image-requests") image_requests = std::stoi(argv[++i]);
    else if (flag == "--gallery") gallery = std::stoi(argv[++i]);
    else if (flag == "--rounds") rounds = std::stoi(argv[++i]);
    else throw std::runtime_error("unknown option " + flag);
  }
  set_compute_threads(0);
  const fs::path work = fs::temp_directory_path() / ("toonreid_bench_serve_" + std::to_string(::getpid()));
  fs::create_directories(work);
  const ConfigSchema schema = toonreid_schema();
  const fs::path root = TOONREID_SOURCE_DIR;
  const Config config = load_config(schema, root / "configs" / "synth_demo.yaml",
                                    {std::string("input.align=") + (align ? "true" : "false"), "face.cache_dir=" + (work / "faces").string()});
  Embedder embedder(config, "");
  // A few real images (their paths back the thumbnails) and the query cartoon.
  synth::SynthOptions so;
  so.identities = 4, so.photos = 1, so.cartoons = 1, so.size = 128, so.seed = 1;
  const Dataset images = synth::generate(so, work / "toons");
  std::string photo, cartoon;
  for (const auto& r : images.records()) (r.domain == Domain::Photo ? photo : cartoon) = r.path.string();
  GalleryIndex::create(work / "gallery", embedder.index_model(""), {});
  GalleryIndex index(work / "gallery");
  // Clustered 128-d vectors: 1,000 identities of 10 images.
  torch::manual_seed(0);
  const int64_t dim = embedder.dim(), ids = std::max(1, gallery / 10);
  const torch::Tensor centres = torch::randn({ids, dim});
  const torch::Tensor labels = torch::randint(0, ids, {gallery});
  const torch::Tensor vectors = centres.index_select(0, labels) + 0.5 * torch::randn({gallery, dim});
  std::vector<GalleryItem> items;
  for (int i = 0; i < gallery; ++i)
    items.push_back({0, "Person_" + std::to_string(labels[i].item<int64_t>()), "photo", photo, "-", 0});
  index.add(items, vectors);
  ServiceOptions o;
  o.port = 0;
  o.threads = 40;  // more than the most clients: each keep-alive connection holds a thread
  o.batch_window_ms = 0;
  SearchService service(index, embedder, o);
  const int port = service.bind();
  std::thread server([&] { service.run(); });
  o.batch_window_ms = 5;
  SearchService batched(index, embedder, o);
  const int batched_port = batched.bind();
  std::thread batched_server([&] { batched.run(); });

  const torch::Tensor queries = centres.index_select(0, torch::randint(0, ids, {4096})) + 0.5 * torch::randn({4096, dim});
  std::vector<std::string> bodies;
  for (int64_t i = 0; i < queries.size(0); ++i) {
    std::vector<float> v(queries[i].data_ptr<float>(), queries[i].data_ptr<float>() + dim);
    bodies.push_back(nlohmann::json{{"embedding", v}, {"top_k", 10}}.dump());
  }
  const std::string jpeg = slurp(cartoon);
  std::printf("gallery %d items, %lld-d, exact; %d cores; medians are p50\n", gallery, static_cast<long long>(dim),
              available_cores());
  std::printf("%-38s %8s %10s %9s %9s %7s\n", "request", "clients", "req/s", "p50 ms", "p99 ms", "errors");
  for (int clients : {1, 8, 32}) {
    const Load e = run_load(port, clients, std::max(1, requests / clients), [&](httplib::Client& c, int i) {
      return c.Post("/api/search/embedding", bodies[static_cast<std::size_t>(i) % bodies.size()], "application/json");
    });
    std::printf("%-38s %8d %10.1f %9.2f %9.2f %7d\n", "search by embedding (no decoding)", clients,
                static_cast<double>(e.latencies_ms.size()) / e.seconds, percentile(e.latencies_ms, 0.5),
                percentile(e.latencies_ms, 0.99), e.errors);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  const char* what = align ? "by JPEG, faces aligned" : "by JPEG, whole picture";
  for (int clients : {1, 8, 32}) {
    std::vector<double> rate[2], p50[2], p99[2];
    int errors[2] = {0, 0};
    for (int r = 0; r < rounds; ++r)
      for (int b = 0; b < 2; ++b) {  // alternating: the same machine state for both
        const Load im = run_load(b ? batched_port : port, clients, std::max(1, image_requests / clients),
                                 [&](httplib::Client& c, int) { return c.Post("/api/search", jpeg, "image/jpeg"); });
        rate[b].push_back(static_cast<double>(im.latencies_ms.size()) / im.seconds);
        p50[b].push_back(percentile(im.latencies_ms, 0.5));
        p99[b].push_back(percentile(im.latencies_ms, 0.99));
        errors[b] += im.errors;
      }
    for (int b = 0; b < 2; ++b)
      std::printf("%-38s %8d %10.1f %9.2f %9.2f %7d\n",
                  (std::string(what) + (b ? ", batched 5 ms" : ", each alone")).c_str(), clients, median(rate[b]),
                  median(p50[b]), median(p99[b]), errors[b]);
  }
  service.stop();
  server.join();
  batched.stop();
  batched_server.join();
  fs::remove_all(work);
  return 0;
} catch (const std::exception& e) {
  std::cerr << "bench_serve: error: " << e.what() << std::endl;
  return 1;
}
