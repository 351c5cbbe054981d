#include "serve/http_service.h"

#include <httplib.h>
#include <sys/socket.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <mutex>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/image_io.h"
#include "serve/embedder.h"
#include "serve/gallery_search.h"

namespace toonreid {

namespace fs = std::filesystem;

namespace {

// A name that can become a folder name and a database value without surprises.
std::string check_name(const std::string& name) {
  if (name.empty() || name.size() > 100) return "must have 1 to 100 characters";
  if (name.find('/') != std::string::npos || name.find('\\') != std::string::npos) return "must not contain / or \\";
  if (name.find("..") != std::string::npos || name[0] == '.') return "must not start with . or contain ..";
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) return "must not contain control characters";
  return {};
}

void reply(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void fail(httplib::Response& res, int status, const std::string& message) { reply(res, status, {{"error", message}}); }

// The upload's bytes and a name for messages: multipart field "image", or the raw body.
bool upload_bytes(const httplib::Request& req, std::string& bytes, std::string& name) {
  if (req.is_multipart_form_data()) {
    if (!req.has_file("image")) return false;
    const auto f = req.get_file_value("image");
    bytes = f.content;
    name = f.filename.empty() ? "image" : f.filename;
    return true;
  }
  bytes = req.body;
  name = "request body";
  return true;
}

// Decodes strictly; returns the extension for the bytes, or throws DataError naming
// the problem.
std::string validate_image(const std::string& bytes, const std::string& name) {
  if (bytes.empty()) throw DataError(name + ": empty upload");
  const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
  const ImageFormat format = detect_format(data, bytes.size());
  if (format != ImageFormat::Jpeg && format != ImageFormat::Png)
    throw DataError(name + ": not a JPEG or PNG image (" + std::to_string(bytes.size()) + " bytes)");
  ImageDecoder decoder;
  decoder.set_strict(true);
  decoder.decode(data, bytes.size(), name);  // throws on truncated or corrupt data
  return format == ImageFormat::Jpeg ? ".jpg" : ".png";
}

// Decodes an upload strictly (truncated or corrupt data is refused, naming the problem).
cv::Mat decode_upload(const std::string& bytes, const std::string& name) {
  validate_image(bytes, name);
  ImageDecoder decoder;
  decoder.set_strict(true);
  return decoder.decode(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), name);
}

std::string read_file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path.string());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

struct SearchService::Impl {
  Impl(GalleryIndex& i, Embedder& e, ServiceOptions o) : index(i), embedder(e), options(std::move(o)) {}

  GalleryIndex& index;
  Embedder& embedder;
  ServiceOptions options;
  httplib::Server server;
  int port = -1;
  int listen_fd = -1;  // cpp-httplib listens with a backlog of 5; raised after bind
  std::mutex stats_mutex;
  std::deque<double> latencies_ms;  // the last 10,000 searches
  std::uint64_t searches = 0, enrolments = 0, errors = 0;

  bool authorised(const httplib::Request& req, httplib::Response& res) {
    if (options.token.empty() || req.get_header_value("Authorization") == "Bearer " + options.token) return true;
    fail(res, 401, "this server needs a token for changes: Authorization: Bearer <token>");
    return false;
  }

  void record(double ms) {
    std::lock_guard lock(stats_mutex);
    ++searches;
    latencies_ms.push_back(ms);
    if (latencies_ms.size() > 10000) latencies_ms.pop_front();
  }

  // The operating point and face choice of a search request (query parameters).
  static bool search_options(const httplib::Request& req, httplib::Response& res, SearchOptions& o, FaceSelection& faces) {
    try {
      if (req.has_param("top_k")) o.top_k = std::stoll(req.get_param_value("top_k"));
      if (req.has_param("fpir")) o.fpir = std::stod(req.get_param_value("fpir"));
      if (req.has_param("threshold")) o.threshold = std::stod(req.get_param_value("threshold"));
    } catch (const std::exception&) {
      fail(res, 400, "top_k, fpir and threshold must be numbers");
      return false;
    }
    if (o.top_k < 1 || o.top_k > 1000) return fail(res, 400, "top_k: must be 1 to 1000"), false;
    if (!(o.fpir > 0 && o.fpir <= 1)) return fail(res, 400, "fpir: must be in (0, 1]"), false;
    if (o.threshold && !std::isfinite(*o.threshold)) return fail(res, 400, "threshold: must be a finite number"), false;
    const std::string by = req.has_param("by") ? req.get_param_value("by") : "identity";
    if (by != "identity" && by != "image") return fail(res, 400, "by: identity or image"), false;
    o.by_identity = by == "identity";
    o.rerank = req.has_param("rerank") && req.get_param_value("rerank") == "1";
    faces.largest_only = req.has_param("largest_face") && req.get_param_value("largest_face") == "1";
    faces.fallback = req.has_param("fallback") && req.get_param_value("fallback") == "1";
    return true;
  }

  void search(const httplib::Request& req, httplib::Response& res) {
    const auto start = std::chrono::steady_clock::now();
    std::string bytes, name;
    if (!upload_bytes(req, bytes, name)) return fail(res, 400, "no image: send it as the multipart field 'image' or as the body");
    SearchOptions o;
    FaceSelection faces;
    if (!search_options(req, res, o, faces)) return;
    try {
      // Decoded once, in memory: nothing of the query is written anywhere.
      const cv::Mat rgb = decode_upload(bytes, name);
      const PictureSearch found = search_picture(index, embedder, rgb, name, faces, o);
      nlohmann::json j = to_json(found);
      for (auto& f : j["faces"])
        for (auto& h : f["hits"]) h["thumbnail"] = "/api/image/" + std::to_string(h["item"].get<int64_t>());
      j["query"] = name;
      j["width"] = rgb.cols;
      j["height"] = rgb.rows;
      j["calibrated"] = index.calibration() != nullptr;
      // The first face's hits, for clients of the one-face API.
      j["hits"] = found.faces.empty() ? nlohmann::json::array() : j["faces"][0]["hits"];
      record(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
      reply(res, 200, j);
    } catch (const DataError& e) {
      fail(res, 400, e.what());
    }
  }

  // {"embedding": [...]} (a client's own embedding from the index's model): no decoding
  // or network forward pass, only the index search.
  void search_embedding(const httplib::Request& req, httplib::Response& res) {
    const auto start = std::chrono::steady_clock::now();
    nlohmann::json body;
    try {
      body = nlohmann::json::parse(req.body);
    } catch (const std::exception&) {
      return fail(res, 400, "not JSON: send {\"embedding\": [numbers]}");
    }
    if (!body.contains("embedding") || !body["embedding"].is_array())
      return fail(res, 400, "no 'embedding' array");
    std::vector<float> v;
    for (const auto& x : body["embedding"]) {
      if (!x.is_number()) return fail(res, 400, "embedding: numbers only");
      v.push_back(x.get<float>());
    }
    if (static_cast<int64_t>(v.size()) != index.model().dim)
      return fail(res, 400, "embedding: " + std::to_string(v.size()) + " numbers, the index holds " +
                                std::to_string(index.model().dim) + "-d vectors");
    SearchOptions o;
    o.top_k = std::clamp<int64_t>(body.value("top_k", 10), 1, 1000);
    o.by_identity = body.value("by", std::string("identity")) != "image";
    const torch::Tensor q = torch::from_blob(v.data(), {1, static_cast<int64_t>(v.size())}, torch::kFloat).clone();
    nlohmann::json r = to_json(search_embeddings(index, q, {"embedding"}, o))[0];
    for (auto& h : r["hits"]) h["thumbnail"] = "/api/image/" + std::to_string(h["item"].get<int64_t>());
    record(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    reply(res, 200, r);
  }

  void enrol_upload(const httplib::Request& req, httplib::Response& res) {
    if (!authorised(req, res)) return;
    if (!req.is_multipart_form_data()) return fail(res, 400, "send multipart form data: 'identity' and 'image' files");
    const std::string identity = req.has_file("identity") ? req.get_file_value("identity").content : "";
    if (const std::string why = check_name(identity); !why.empty()) return fail(res, 400, "identity: " + why);
    std::vector<httplib::MultipartFormData> files;
    for (auto [it, end] = req.files.equal_range("image"); it != end; ++it) files.push_back(it->second);
    if (files.empty()) return fail(res, 400, "no 'image' file");
    std::vector<ImageRecord> records;
    std::vector<fs::path> written;
    try {
      for (const auto& f : files) {
        const std::string ext = validate_image(f.content, f.filename.empty() ? "image" : f.filename);
        // The index keeps enrolled images (result thumbnails), named by content.
        const fs::path dir = index.dir() / "uploads" / identity;
        fs::create_directories(dir);
        const fs::path path = dir / (std::to_string(std::hash<std::string>{}(f.content)) + ext);
        write_file_atomically(path, f.content);
        written.push_back(path);
        records.emplace_back(path, identity, Domain::Photo);
      }
      const auto ids = enrol(index, embedder, Dataset(std::move(records), "upload"));
      {
        std::lock_guard lock(stats_mutex);
        ++enrolments;
      }
      reply(res, 200, {{"identity", identity}, {"items", ids}});
    } catch (const DataError& e) {
      for (const auto& p : written) fs::remove(p);
      fail(res, 400, e.what());
    }
  }

  void remove(const httplib::Request& req, httplib::Response& res) {
    if (!authorised(req, res)) return;
    const std::string what = req.matches[1];
    int64_t n = 0;
    if (!what.empty() && std::all_of(what.begin(), what.end(), ::isdigit)) {
      n = index.remove_item(std::stoll(what));
    } else {
      if (const std::string why = check_name(what); !why.empty()) return fail(res, 400, "identity: " + why);
      n = index.remove_identity(what);
    }
    if (n == 0) return fail(res, 404, "no item or identity '" + what + "'");
    reply(res, 200, {{"removed", n}});
  }

  void image(const httplib::Request& req, httplib::Response& res) {
    // Paths come from the database, never from the request.
    const auto hits = index.items({std::stoll(req.matches[1])});
    if (hits.empty()) return fail(res, 404, "no item " + std::string(req.matches[1]));
    std::string bytes;
    try {
      bytes = read_file_bytes(hits[0].source);
    } catch (const Error&) {
      return fail(res, 404, "the image of item " + std::string(req.matches[1]) + " is no longer on disk");
    }
    const auto format = detect_format(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    res.set_content(bytes, format == ImageFormat::Png ? "image/png" : "image/jpeg");
  }

  void install() {
    server.set_payload_max_length(options.max_upload_bytes);
    // Small requests and replies: no Nagle delay (with delayed ACKs it costs ~40 ms each).
    server.set_tcp_nodelay(true);
    server.set_socket_options([this](int fd) {
      int yes = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      listen_fd = fd;
    });
    const int threads = std::max(1, options.threads);
    server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
    server.set_exception_handler([this](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string message = "internal error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        message = e.what();
      } catch (...) {
      }
      {
        std::lock_guard lock(stats_mutex);
        ++errors;
      }
      spdlog::error("serve: {}", message);
      fail(res, 500, message);
    });
    server.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content(service_page(), "text/html; charset=utf-8"); });
    server.Get("/api/health", [](const httplib::Request&, httplib::Response& res) { reply(res, 200, {{"status", "ok"}}); });
    server.Get("/api/stats", [this](const httplib::Request&, httplib::Response& res) {
      nlohmann::json j = to_json(index.stats());
      std::lock_guard lock(stats_mutex);
      j["searches"] = searches, j["enrolments"] = enrolments, j["errors"] = errors;
      j["search_latency"] = nullptr;
      res.status = 200;
      std::vector<double> v(latencies_ms.begin(), latencies_ms.end());
      if (!v.empty()) {
        std::sort(v.begin(), v.end());
        auto at = [&](double p) { return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))]; };
        j["search_latency"] = {{"p50_ms", at(0.50)}, {"p90_ms", at(0.90)}, {"p99_ms", at(0.99)}, {"window", v.size()}};
      }
      res.set_content(j.dump(), "application/json");
    });
    server.Post("/api/search", [this](const httplib::Request& req, httplib::Response& res) { search(req, res); });
    server.Post("/api/search/embedding", [this](const httplib::Request& req, httplib::Response& res) { search_embedding(req, res); });
    server.Post("/api/gallery", [this](const httplib::Request& req, httplib::Response& res) { enrol_upload(req, res); });
    server.Delete(R"(/api/gallery/(.+))", [this](const httplib::Request& req, httplib::Response& res) { remove(req, res); });
    server.Get(R"(/api/image/(\d{1,18}))", [this](const httplib::Request& req, httplib::Response& res) { image(req, res); });
  }
};

SearchService::SearchService(GalleryIndex& index, Embedder& embedder, ServiceOptions options)
    : impl_(std::make_unique<Impl>(index, embedder, std::move(options))) {
  check_same_model(index, embedder);
  impl_->install();
}

SearchService::~SearchService() { stop(); }

int SearchService::bind() {
  if (impl_->port >= 0) return impl_->port;
  const auto& o = impl_->options;
  impl_->port = o.port == 0 ? impl_->server.bind_to_any_port(o.host) : (impl_->server.bind_to_port(o.host, o.port) ? o.port : -1);
  if (impl_->port < 0) throw Error("serve: cannot listen on " + o.host + ":" + std::to_string(o.port) + " (in use?)");
  // Many clients connecting at once must not find the queue full (SYN retries cost 1 s).
  if (impl_->listen_fd >= 0) ::listen(impl_->listen_fd, 512);
  return impl_->port;
}

void SearchService::run() {
  bind();
  spdlog::info("serving {} on http://{}:{}/", impl_->index.dir().string(), impl_->options.host, impl_->port);
  impl_->server.listen_after_bind();
}

void SearchService::stop() {
  if (impl_) impl_->server.stop();
}

int SearchService::port() const { return impl_->port; }

}  // namespace toonreid
