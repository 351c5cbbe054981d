#include "serve/http_service.h"

#include <httplib.h>
#include <sys/socket.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"
#include "data/image_io.h"
#include "serve/embedder.h"
#include "serve/face_batcher.h"
#include "serve/gallery_search.h"

namespace toonreid {

namespace fs = std::filesystem;

namespace {

// The page's policy: its own script and style only, pictures from itself (and the
// dropped file's blob: URL), requests to itself; never framed.
const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// Why `name` cannot be an identity (empty when it can): it becomes a folder name under
// uploads/ and a database value.
std::string check_name(const std::string& name) {
  if (std::string why = identity_name_problem(name); !why.empty()) return why;
  if (name.find('/') != std::string::npos || name.find('\\') != std::string::npos) return "must not contain / or \\";
  if (name.find("..") != std::string::npos || name[0] == '.') return "must not start with . or contain ..";
  return {};
}

// JSON that never throws on stored text: bytes that are not UTF-8 become U+FFFD.
std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

void reply(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(dump(body), "application/json");
}

void fail(httplib::Response& res, int status, const std::string& message) { reply(res, status, {{"error", printable(message)}}); }

// A whole-string integer / number, or nothing ("5abc", "1e3" for an integer, "" are not).
std::optional<int64_t> parse_integer(const std::string& s) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<double> parse_number(const std::string& s) {
  if (s.empty() || s.size() > 64) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// The upload's bytes and a name for messages: multipart field "image", or the raw body.
bool upload_bytes(const httplib::Request& req, std::string& bytes, std::string& name) {
  if (req.is_multipart_form_data()) {
    if (!req.has_file("image")) return false;
    const auto f = req.get_file_value("image");
    bytes = f.content;
    name = f.filename.empty() ? "image" : printable(f.filename);
    return true;
  }
  bytes = req.body;
  name = "request body";
  return true;
}

// Checks what the bytes are; returns the extension for them, or throws DataError naming
// the problem.
std::string image_extension(const std::string& bytes, const std::string& name) {
  if (bytes.empty()) throw DataError(name + ": empty upload");
  const ImageFormat format = detect_format(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  if (format != ImageFormat::Jpeg && format != ImageFormat::Png)
    throw DataError(name + ": not a JPEG or PNG image (" + std::to_string(bytes.size()) + " bytes)");
  return format == ImageFormat::Jpeg ? ".jpg" : ".png";
}

// Decodes an upload strictly (truncated or corrupt data is refused naming the problem),
// within the pixel limit (ImageTooLargeError above it).
cv::Mat decode_upload(const std::string& bytes, const std::string& name, int64_t max_pixels) {
  image_extension(bytes, name);
  ImageDecoder decoder;
  decoder.set_strict(true);
  decoder.set_max_pixels(max_pixels);
  return decoder.decode(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), name);
}

std::string read_file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path.string());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Compares in time that depends on the lengths only, not on where the texts differ.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i)
    diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

// "name:port" of a Host header (or an Origin's authority), lower-cased; the port empty
// when absent.
std::pair<std::string, std::string> split_authority(std::string a) {
  std::transform(a.begin(), a.end(), a.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!a.empty() && a.front() == '[') {  // [v6]:port
    const auto close = a.find(']');
    if (close == std::string::npos) return {a, ""};
    return {a.substr(0, close + 1), close + 1 < a.size() && a[close + 1] == ':' ? a.substr(close + 2) : ""};
  }
  const auto colon = a.rfind(':');
  if (colon == std::string::npos) return {a, ""};
  return {a.substr(0, colon), a.substr(colon + 1)};
}

// A thread pool that grows when every thread is busy (a slow client holds its thread
// while it dribbles its request), up to `most` threads; threads above `least` end after
// being idle a while. Connections beyond `most` wait their turn.
class ElasticPool : public httplib::TaskQueue {
 public:
  ElasticPool(std::size_t least, std::size_t most) : least_(std::max<std::size_t>(1, least)), most_(std::max(most, least_)) {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < least_; ++i) spawn();
  }
  ~ElasticPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(fn));
    if (idle_ < tasks_.size() && threads_ < most_) spawn();
    cv_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return threads_ == 0; });
  }

 private:
  void spawn() {  // with mutex_ held
    ++threads_;
    std::thread([this] { work(); }).detach();
  }

  void work() {
    std::unique_lock lock(mutex_);
    for (;;) {
      ++idle_;
      const bool extra = threads_ > least_;
      const bool woke = cv_.wait_for(lock, std::chrono::seconds(extra ? 10 : 3600), [this] { return stopping_ || !tasks_.empty(); });
      --idle_;
      if (stopping_ && tasks_.empty()) break;
      if (!woke) {
        if (threads_ > least_) break;  // an extra thread, idle: gone
        continue;
      }
      std::function<void()> fn = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      try {
        fn();
      } catch (...) {
        // The server's own handlers report; nothing may escape a pool thread.
      }
      lock.lock();
    }
    if (--threads_ == 0) done_.notify_all();
  }

  const std::size_t least_, most_;
  std::mutex mutex_;
  std::condition_variable cv_, done_;
  std::deque<std::function<void()>> tasks_;
  std::size_t threads_ = 0, idle_ = 0;
  bool stopping_ = false;
};

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
  std::uint64_t searches = 0, enrolments = 0, errors = 0, refused = 0;
  std::mutex enrol_mutex;  // one enrolment's files at a time (their names are shared by content)
  std::unique_ptr<FaceBatcher> batcher;  // searches by picture, embedded together (batch_window_ms > 0)
  // stop() may come before run() has started listening (cpp-httplib's stop() does
  // nothing then): run() checks, and stop() waits for the listening to begin.
  std::atomic<bool> stop_requested{false}, in_run{false}, run_returned{false};

  bool authorised(const httplib::Request& req, httplib::Response& res) {
    if (options.token.empty() || same_secret(req.get_header_value("Authorization"), "Bearer " + options.token)) return true;
    fail(res, 401, "this server needs a token for changes: Authorization: Bearer <token>");
    return false;
  }

  // The Host header must name this server: a page of another site that resolves its own
  // name to this address (DNS rebinding) sends its own name.
  bool host_allowed(const std::string& host_header) const {
    const auto [name, port] = split_authority(host_header);
    if (!port.empty() && port != std::to_string(this->port)) return false;
    if (std::find(options.allowed_hosts.begin(), options.allowed_hosts.end(), name) != options.allowed_hosts.end()) return true;
    if (is_loopback(options.host)) return is_loopback(name);
    return name == split_authority(options.host).first;
  }

  // Refuses requests a browser sends for another site's page: a wrong Host (every
  // request), or, for changes and uploads, an Origin of another site or Sec-Fetch-Site
  // other than same-origin / none (multipart POSTs need no CORS preflight).
  bool request_allowed(const httplib::Request& req, httplib::Response& res) {
    const std::string host = req.get_header_value("Host");
    std::string why;
    if (!host_allowed(host)) {
      why = "host '" + printable(host) + "' is not served here (give --allowed-host to serve it)";
    } else if (req.method != "GET" && req.method != "HEAD") {
      const std::string site = req.get_header_value("Sec-Fetch-Site");
      const std::string origin = req.get_header_value("Origin");
      if (!site.empty() && site != "same-origin" && site != "none") {
        why = "cross-site request refused (Sec-Fetch-Site: " + printable(site) + ")";
      } else if (!origin.empty()) {
        const auto scheme = origin.find("://");
        if (origin == "null" || scheme == std::string::npos || !host_allowed(origin.substr(scheme + 3)) ||
            split_authority(origin.substr(scheme + 3)) != split_authority(host))
          why = "cross-site request refused (Origin: " + printable(origin) + ")";
      }
    }
    if (why.empty()) return true;
    {
      std::lock_guard lock(stats_mutex);
      ++refused;
    }
    fail(res, 403, why);
    return false;
  }

  void record(double ms) {
    std::lock_guard lock(stats_mutex);
    ++searches;
    latencies_ms.push_back(ms);
    if (latencies_ms.size() > 10000) latencies_ms.pop_front();
  }

  // Hits as the service shows them: no server paths, a thumbnail URL instead.
  static void web_hits(nlohmann::json& hits) {
    for (auto& h : hits) {
      h.erase("source");
      h["thumbnail"] = "/api/image/" + std::to_string(h["item"].get<int64_t>());
    }
  }

  // The operating point and face choice of a search request (query parameters).
  static bool search_options(const httplib::Request& req, httplib::Response& res, SearchOptions& o, FaceSelection& faces) {
    if (req.has_param("top_k")) {
      const auto v = parse_integer(req.get_param_value("top_k"));
      if (!v || *v < 1 || *v > 1000) return fail(res, 400, "top_k: a whole number from 1 to 1000"), false;
      o.top_k = *v;
    }
    if (req.has_param("fpir")) {
      const auto v = parse_number(req.get_param_value("fpir"));
      if (!v || !(*v > 0 && *v <= 1)) return fail(res, 400, "fpir: a number in (0, 1]"), false;
      o.fpir = *v;
    }
    if (req.has_param("threshold")) {
      const auto v = parse_number(req.get_param_value("threshold"));
      if (!v) return fail(res, 400, "threshold: a finite number"), false;
      o.threshold = *v;
    }
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
    // The batcher waits for this picture while it is decoded (and for nobody when no
    // other search is in progress).
    std::optional<FaceBatcher::Announcement> coming;
    if (batcher) coming.emplace(*batcher);
    try {
      // Decoded once, in memory: nothing of the query is written anywhere.
      const cv::Mat rgb = decode_upload(bytes, name, options.max_pixels);
      const PictureSearch found =
          search_faces(index, batcher ? batcher->run(rgb, faces, &*coming) : embed_faces(embedder, rgb, faces), name, o);
      nlohmann::json j = to_json(found);
      for (auto& f : j["faces"]) web_hits(f["hits"]);
      j["query"] = name;
      j["width"] = rgb.cols;
      j["height"] = rgb.rows;
      j["calibrated"] = index.calibration() != nullptr;
      // The first face's hits, for clients of the one-face API.
      j["hits"] = found.faces.empty() ? nlohmann::json::array() : j["faces"][0]["hits"];
      record(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
      reply(res, 200, j);
    } catch (const ImageTooLargeError& e) {
      fail(res, 413, e.what());
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
    if (!body.is_object() || !body.contains("embedding") || !body["embedding"].is_array())
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
    if (body.contains("top_k")) {
      if (!body["top_k"].is_number_integer() || body["top_k"].get<int64_t>() < 1 || body["top_k"].get<int64_t>() > 1000)
        return fail(res, 400, "top_k: a whole number from 1 to 1000");
      o.top_k = body["top_k"].get<int64_t>();
    }
    if (body.contains("by") && (!body["by"].is_string() || (body["by"] != "identity" && body["by"] != "image")))
      return fail(res, 400, "by: identity or image");
    o.by_identity = body.value("by", std::string("identity")) != "image";
    if (body.contains("fpir")) {
      if (!body["fpir"].is_number() || !(body["fpir"].get<double>() > 0 && body["fpir"].get<double>() <= 1))
        return fail(res, 400, "fpir: a number in (0, 1]");
      o.fpir = body["fpir"].get<double>();
    }
    const torch::Tensor q = torch::from_blob(v.data(), {1, static_cast<int64_t>(v.size())}, torch::kFloat).clone();
    if (!torch::isfinite(q).all().item<bool>()) return fail(res, 400, "embedding: finite numbers only");
    nlohmann::json r = to_json(search_embeddings(index, q, {"embedding"}, o))[0];
    web_hits(r["hits"]);
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
    std::vector<fs::path> created;  // files this request wrote: the only ones a failure removes
    std::lock_guard lock(enrol_mutex);
    try {
      for (const auto& f : files) {
        const std::string name = f.filename.empty() ? "image" : printable(f.filename);
        const std::string ext = image_extension(f.content, name);
        decode_upload(f.content, name, options.max_pixels);  // the whole image is valid
        // The index keeps enrolled images (result thumbnails), named by content.
        const fs::path dir = index.dir() / "uploads" / identity;
        fs::create_directories(dir);
        const fs::path path = dir / (std::to_string(std::hash<std::string>{}(f.content)) + ext);
        if (!fs::exists(path)) {
          write_file_atomically(path, f.content);
          created.push_back(path);
        }
        records.emplace_back(path, identity, Domain::Photo);
      }
      const auto ids = enrol(index, embedder, Dataset(std::move(records), "upload"));
      {
        std::lock_guard s(stats_mutex);
        ++enrolments;
      }
      reply(res, 200, {{"identity", identity}, {"items", ids}});
    } catch (const ImageTooLargeError& e) {
      for (const auto& p : created) fs::remove(p);
      fail(res, 413, e.what());
    } catch (const DataError& e) {
      for (const auto& p : created) fs::remove(p);
      fail(res, 400, e.what());
    } catch (...) {
      for (const auto& p : created) fs::remove(p);
      throw;
    }
  }

  // Stored uploads of removed items that no remaining item uses any more.
  void delete_orphan_uploads(const std::vector<GalleryItem>& removed) {
    const fs::path uploads = fs::weakly_canonical(index.dir() / "uploads");
    for (const auto& item : removed) {
      std::error_code ec;
      const fs::path p = fs::weakly_canonical(item.source, ec);
      if (ec) continue;
      const auto rel = p.lexically_relative(uploads);
      if (rel.empty() || *rel.begin() == "..") continue;  // not an upload: a user's own file
      if (!index.references(item.source)) fs::remove(p, ec);
    }
  }

  void remove(const httplib::Request& req, httplib::Response& res) {
    if (!authorised(req, res)) return;
    const std::string what = req.matches[1];
    std::vector<GalleryItem> removed;
    std::lock_guard lock(enrol_mutex);
    int64_t n = 0;
    if (!what.empty() && std::all_of(what.begin(), what.end(), [](unsigned char c) { return std::isdigit(c); })) {
      const auto id = parse_integer(what);
      if (!id) return fail(res, 404, "no item " + what);  // beyond any id
      n = index.remove_item(*id, &removed);
    } else {
      if (const std::string why = check_name(what); !why.empty()) return fail(res, 400, "identity: " + why);
      n = index.remove_identity(what, &removed);
    }
    if (n == 0) return fail(res, 404, "no item or identity '" + what + "'");
    delete_orphan_uploads(removed);
    reply(res, 200, {{"removed", n}});
  }

  void image(const httplib::Request& req, httplib::Response& res) {
    // Paths come from the database, never from the request.
    const auto id = parse_integer(req.matches[1]);
    const auto hits = id ? index.items({*id}) : std::vector<GalleryItem>{};
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
    // Slow clients: every read must bring data within read_timeout (a header dribbled a
    // byte at a time still holds a thread, so the pool grows instead of starving the
    // others), and an idle kept-alive connection is closed after keep_alive_timeout.
    server.set_read_timeout(std::max(1, options.read_timeout_s), 0);
    server.set_write_timeout(std::max(1, options.read_timeout_s), 0);
    server.set_keep_alive_timeout(std::max(1, options.keep_alive_timeout_s));
    server.set_keep_alive_max_count(100);
    // Small requests and replies: no Nagle delay (with delayed ACKs it costs ~40 ms each).
    server.set_tcp_nodelay(true);
    server.set_socket_options([this](int fd) {
      int yes = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      listen_fd = fd;
    });
    const auto least = static_cast<std::size_t>(std::max(1, options.threads));
    const auto most = static_cast<std::size_t>(std::max(options.threads, options.max_connections));
    server.new_task_queue = [least, most] { return new ElasticPool(least, most); };
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      return request_allowed(req, res) ? httplib::Server::HandlerResponse::Unhandled : httplib::Server::HandlerResponse::Handled;
    });
    // On every response, refusals and errors included: no sniffing, no framing, the
    // page's policy, and nothing of a query kept in a browser cache.
    server.set_default_headers({{"X-Content-Type-Options", "nosniff"},
                                {"X-Frame-Options", "DENY"},
                                {"Referrer-Policy", "no-referrer"},
                                {"Content-Security-Policy", kContentSecurityPolicy},
                                {"Cache-Control", "no-store"}});
    // Errors cpp-httplib answers itself (malformed requests, bodies above the limit,
    // unknown paths) get a JSON body too.
    server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return;
      const char* why = res.status == 413   ? "the upload is above this server's limit (--max-upload-mb)"
                        : res.status == 404 ? "no such endpoint"
                        : res.status == 400 ? "malformed request"
                                            : "the request could not be handled";
      reply(res, res.status, {{"error", why}});
    });
    server.set_exception_handler([this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
      std::string message = "unknown exception";
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
      // The details go to the server's log, never to the client.
      spdlog::error("serve: {} {}: {}", req.method, printable(req.path), printable(message));
      fail(res, 500, "internal error (logged by the server)");
    });
    server.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content(service_page(), "text/html; charset=utf-8"); });
    server.Get("/app.js", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(service_script(), "text/javascript; charset=utf-8");
    });
    server.Get("/app.css", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(service_style(), "text/css; charset=utf-8");
    });
    server.Get("/api/health", [](const httplib::Request&, httplib::Response& res) { reply(res, 200, {{"status", "ok"}}); });
    server.Get("/api/stats", [this](const httplib::Request&, httplib::Response& res) {
      nlohmann::json j = to_json(index.stats());
      std::lock_guard lock(stats_mutex);
      j["searches"] = searches, j["enrolments"] = enrolments, j["errors"] = errors, j["refused"] = refused;
      j["search_latency"] = nullptr;
      std::vector<double> v(latencies_ms.begin(), latencies_ms.end());
      if (!v.empty()) {
        std::sort(v.begin(), v.end());
        auto at = [&](double p) { return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))]; };
        j["search_latency"] = {{"p50_ms", at(0.50)}, {"p90_ms", at(0.90)}, {"p99_ms", at(0.99)}, {"window", v.size()}};
      }
      reply(res, 200, j);
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
  if (impl_->options.max_pixels < 0) impl_->options.max_pixels = embedder.max_pixels();
  if (impl_->options.batch_window_ms > 0)
    impl_->batcher = std::make_unique<FaceBatcher>(embedder, impl_->options.batch_window_ms, impl_->options.max_batch);
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
  impl_->in_run = true;
  if (!impl_->stop_requested) impl_->server.listen_after_bind();
  impl_->run_returned = true;
}

void SearchService::stop() {
  if (!impl_) return;
  impl_->stop_requested = true;
  while (impl_->in_run && !impl_->run_returned && !impl_->server.is_running())
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  impl_->server.stop();
}

int SearchService::port() const { return impl_->port; }

}  // namespace toonreid
