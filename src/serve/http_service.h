// `toonreid serve`: the gallery index over HTTP (cpp-httplib), with a web page.
//
//   GET    /, /app.js, /app.css  the page: drop or choose a picture; every face gets a
//                                numbered box, its decision (match / unknown) and top-k
//   POST   /api/search           a picture (multipart field "image", or the raw JPEG/PNG
//                                body); ?top_k&by=identity|image&rerank&fpir&threshold
//                                &largest_face&fallback -> every face's answer (JSON)
//   POST   /api/search/embedding {"embedding": [...], "top_k": 10, "by": "identity"}: a
//                                vector from the index's own model, searched as is
//   POST   /api/gallery          multipart: "identity" and one or more "image" files
//   DELETE /api/gallery/{id}     an item id (digits) or an identity name (its stored
//                                uploads are deleted with it)
//   GET    /api/image/{id}       a gallery item's image (the thumbnails of the results)
//   GET    /api/health, /api/stats  (counts, search latency percentiles)
//
// Safety, as a web page on another site or a hostile client would test it:
//   - a Host header that does not name this server gets 403 (DNS rebinding); changes and
//     uploads whose Origin is another site, or whose Sec-Fetch-Site is cross-site, get
//     403 (multipart POSTs need no CORS preflight);
//   - with a token, changes need `Authorization: Bearer <token>` (compared in constant
//     time); bound to loopback unless another host is given;
//   - uploads above max_upload_bytes get 413, images above max_pixels (from the header,
//     before decoding) 413, anything not a whole JPEG or PNG 400 naming the problem;
//     names must be UTF-8 without control characters, path separators or "..";
//   - every reply carries nosniff, DENY framing, no-referrer, no-store and the page's
//     Content-Security-Policy; errors are JSON, and a 500 says "internal error" (the
//     details go to the server's log); replies carry no server paths;
//   - queries are decoded and embedded in memory: nothing of a query is written;
//   - every read of a request must bring data within read_timeout_s, idle kept-alive
//     connections close after keep_alive_timeout_s, and the thread pool grows (to
//     max_connections) while slow clients hold threads, so that they starve no one.
// Searches share the index with enrolments through its readers/writer lock and never
// wait for an enrolment's embedding.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace toonreid {

class Embedder;
class GalleryIndex;

struct ServiceOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (see SearchService::port())
  std::string token;  // empty: writes need no token
  // Host names (without port) the Host header may carry besides the bound address (and,
  // when bound to loopback, localhost / 127.0.0.1 / [::1]); other hosts get 403.
  std::vector<std::string> allowed_hosts;
  std::size_t max_upload_bytes = 10u << 20;
  int64_t max_pixels = -1;   // uploads' pixel limit; -1: the index config's input.max_pixels
  int threads = 8;           // request threads kept
  int max_connections = 256;  // threads the pool may grow to while slow clients hold some
  int read_timeout_s = 5;     // every read of a request must bring data within this
  int keep_alive_timeout_s = 5;  // an idle kept-alive connection is closed after this
  // Concurrent searches by picture share one network pass: pictures arriving within
  // batch_window_ms of the first (at most max_batch) are embedded together; 0: each alone.
  double batch_window_ms = 5;
  int max_batch = 16;
};

class SearchService {
 public:
  SearchService(GalleryIndex& index, Embedder& embedder, ServiceOptions options);
  ~SearchService();
  // Binds (throws Error when the port is taken), then serves until stop().
  void run();
  // Binds now; returns the port (for port 0).
  int bind();
  void stop();
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The page served at "/" with its script and style (nothing from other sites: the
// Content-Security-Policy allows this server's own files only).
const std::string& service_page();
const std::string& service_script();
const std::string& service_style();

}  // namespace toonreid
