// Enrolling images into a gallery index and asking it "who is this?": the operations
// `toonreid index` and `toonreid search` (and the HTTP service) are made of.
#pragma once

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "serve/embedder.h"
#include "serve/gallery_index.h"

namespace toonreid {

// Throws Error when `embedder` is not the model that built `index` (fingerprints differ).
void check_same_model(const GalleryIndex& index, const Embedder& embedder);

// Images per committed change of an enrolment.
constexpr std::size_t kEnrolBatch = 4096;

// Embeds `images` and adds them (identity, domain, source path, content hash), `batch`
// images per committed change. Returns the new item ids.
std::vector<int64_t> enrol(GalleryIndex& index, Embedder& embedder, const Dataset& images, bool progress = false,
                           std::size_t batch = kEnrolBatch);

// A data-parallel rank other than 0 during `index build`: embeds its shares of the same
// batches enrol() embeds on rank 0, which writes the index (`embedder` has the group).
void enrol_share(Embedder& embedder, const Dataset& images, std::size_t batch = kEnrolBatch);

struct SearchOptions {
  int64_t top_k = 10;
  bool by_identity = true;    // best image per identity; false: images
  bool rerank = false;        // k-reciprocal re-ranking of the retrieved candidates (reorders hits only)
  int64_t candidates = 100;   // images retrieved per query before grouping / re-ranking
  // The operating point of decisions: with a calibrated index, the threshold for this
  // FPIR at the index's identity count; or an explicit threshold on the index's score.
  double fpir = 0.01;
  std::optional<double> threshold;
};

// "Is this someone we know?" for one query, from its closest identity's score.
struct Decision {
  enum class Kind { Match, Unknown, Uncalibrated };
  Kind kind = Kind::Uncalibrated;  // uncalibrated: no threshold known (top-k only)
  std::string identity;            // the closest identity by score (empty: empty gallery)
  double score = std::nan("");     // its identity score
  double threshold = std::nan("");  // the threshold used
  double fpir = std::nan("");       // the FPIR the threshold corresponds to at the index's identity count
};
const char* decision_name(Decision::Kind kind);  // "match", "unknown", "uncalibrated"

struct SearchResult {
  std::string query;             // the query image's path
  std::vector<GalleryHit> hits;  // best first; by identity: each identity's best image
  Decision decision;
};

std::vector<SearchResult> search_images(const GalleryIndex& index, Embedder& embedder, const Dataset& queries,
                                        const SearchOptions& options);
// The same from embeddings [Q, dim] (`names`: one per row).
std::vector<SearchResult> search_embeddings(const GalleryIndex& index, const torch::Tensor& embeddings,
                                            const std::vector<std::string>& names, const SearchOptions& options);

// Every face of one picture searched: where it is, how it was found, and its result.
struct FaceSearch {
  int index = 0;            // 1, 2, ... in picture order
  FaceBox box;              // in the picture's pixels
  std::string path;         // ssd | dlib | letterbox | center_crop | whole
  float detector_score = 0;
  SearchResult result;
};
struct PictureSearch {
  std::string picture;
  std::vector<FaceSearch> faces;  // empty: no face found
};

// Finds the faces of a decoded picture (in memory: nothing is written), embeds and
// searches each. Thread-safe.
PictureSearch search_picture(const GalleryIndex& index, const Embedder& embedder, const cv::Mat& rgb8,
                             const std::string& name, const FaceSelection& faces, const SearchOptions& options);
// The search part alone, for faces embedded already (serve/face_batcher.h).
PictureSearch search_faces(const GalleryIndex& index, const struct EmbeddedFaces& faces, const std::string& name,
                           const SearchOptions& options);

nlohmann::json to_json(const Decision& decision);
nlohmann::json to_json(const std::vector<SearchResult>& results);
nlohmann::json to_json(const PictureSearch& picture);
nlohmann::json to_json(const IndexStats& stats);

}  // namespace toonreid
