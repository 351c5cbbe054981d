// `toonreid serve`: the gallery index over HTTP (cpp-httplib), with a web page.
//
//   GET    /                     the page: drop or choose a cartoon, see the top-k gallery
//                                photos with identities and distances; enrol photos
//   POST   /api/search           an image (multipart field "image", or the raw JPEG/PNG
//                                body); ?top_k=10&by=identity|image&rerank=0|1 -> JSON
//   POST   /api/search/embedding {"embedding": [...], "top_k": 10, "by": "identity"}: a
//                                vector from the index's own model, searched as is
//   POST   /api/gallery          multipart: "identity" and one or more "image" files
//   DELETE /api/gallery/{id}     an item id (digits) or an identity name
//   GET    /api/image/{id}       a gallery item's image (the thumbnails of the results)
//   GET    /api/health, /api/stats  (counts, search latency percentiles)
//
// Safety: uploads above `max_upload_bytes` get 413; bytes that are not a decodable JPEG
// or PNG get 400 naming the problem; names with path separators, "..", or control
// characters are refused; with a token, writes need `Authorization: Bearer <token>`;
// bound to loopback unless another host is given. Searches share the index with
// enrolments through its readers/writer lock and never wait for an enrolment's
// embedding.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace toonreid {

class Embedder;
class GalleryIndex;

struct ServiceOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (see SearchService::port())
  std::string token;  // empty: writes need no token
  std::size_t max_upload_bytes = 10u << 20;
  int threads = 8;
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

// The page served at "/" (self-contained: no external scripts, styles or fonts).
const std::string& service_page();

}  // namespace toonreid
