// Enrolling images into a gallery index and asking it "who is this?": the operations
// `toonreid index` and `toonreid search` (and the HTTP service) are made of.
#pragma once

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
  bool rerank = false;        // k-reciprocal re-ranking of the retrieved candidates
  int64_t candidates = 100;   // images retrieved per query before grouping / re-ranking
};

struct SearchResult {
  std::string query;             // the query image's path
  std::vector<GalleryHit> hits;  // nearest first; by identity: each identity's best image
};

std::vector<SearchResult> search_images(const GalleryIndex& index, Embedder& embedder, const Dataset& queries,
                                        const SearchOptions& options);
// The same from embeddings [Q, dim] (`names`: one per row).
std::vector<SearchResult> search_embeddings(const GalleryIndex& index, const torch::Tensor& embeddings,
                                            const std::vector<std::string>& names, const SearchOptions& options);

nlohmann::json to_json(const std::vector<SearchResult>& results);
nlohmann::json to_json(const IndexStats& stats);

}  // namespace toonreid
