#include "serve/gallery_search.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/error.h"
#include "face/aligned_dataset.h"
#include "retrieval/rerank.h"

namespace toonreid {

void check_same_model(const GalleryIndex& index, const Embedder& embedder) {
  if (index.model().fingerprint != embedder.fingerprint())
    throw Error(index.dir().string() + ": built with model " + index.model().fingerprint + " (" +
                (index.model().weights.empty() ? std::string("the config's pretrained network") : index.model().weights) +
                "), but the model given now is " + embedder.fingerprint() +
                ": its embeddings would not be comparable. Use the index's own model or build a new index");
}

namespace {

// The images of enrolment batch `start` (one committed change each).
std::vector<ImageRecord> enrolment_batch(const Dataset& images, std::size_t start, std::size_t batch) {
  const auto& records = images.records();
  return std::vector<ImageRecord>(records.begin() + static_cast<std::ptrdiff_t>(start),
                                  records.begin() + static_cast<std::ptrdiff_t>(std::min(records.size(), start + batch)));
}

}  // namespace

void enrol_share(Embedder& embedder, const Dataset& images, std::size_t batch) {
  for (std::size_t start = 0; start < images.size(); start += batch)
    embedder.embed(Dataset(enrolment_batch(images, start, batch), images.origin()));
}

std::vector<int64_t> enrol(GalleryIndex& index, Embedder& embedder, const Dataset& images, bool progress, std::size_t batch) {
  check_same_model(index, embedder);
  std::vector<int64_t> ids;
  for (std::size_t start = 0; start < images.size(); start += batch) {
    std::vector<ImageRecord> part = enrolment_batch(images, start, batch);
    std::vector<GalleryItem> items;
    for (const auto& r : part)
      items.push_back({0, r.identity, domain_name(r.domain), std::filesystem::absolute(r.source_path()).string(),
                       file_content_hash(r.source_path()), 0});
    const torch::Tensor v = embedder.embed(Dataset(std::move(part), images.origin()), progress);
    const auto added = index.add(std::move(items), v);
    ids.insert(ids.end(), added.begin(), added.end());
  }
  return ids;
}

std::vector<SearchResult> search_embeddings(const GalleryIndex& index, const torch::Tensor& q,
                                            const std::vector<std::string>& names, const SearchOptions& o) {
  if (o.top_k < 1) throw Error("search: top-k must be at least 1");
  const int64_t want = std::max(o.candidates, o.top_k);
  auto found = index.search(q, want);
  if (o.rerank && q.size(0) > 0) {
    // Re-rank every query's candidates together (their union is the gallery here).
    std::set<int64_t> union_ids;
    for (const auto& hits : found)
      for (const auto& h : hits) union_ids.insert(h.item.id);
    const std::vector<int64_t> ids(union_ids.begin(), union_ids.end());
    if (!ids.empty()) {
      std::map<int64_t, GalleryItem> item;
      for (const auto& hits : found)
        for (const auto& h : hits) item[h.item.id] = h.item;
      ReRankOptions rr;
      rr.search = NeighbourSearch::Exact;
      const torch::Tensor qn = q / q.norm(2, 1, true).clamp_min(1e-12);
      const torch::Tensor d = rerank_k_reciprocal(qn, index.vectors(ids), DistanceKind::Euclidean, rr).contiguous();
      for (int64_t i = 0; i < q.size(0); ++i) {
        auto& hits = found[static_cast<std::size_t>(i)];
        hits.clear();
        for (std::size_t j = 0; j < ids.size(); ++j)
          hits.push_back({item[ids[j]], d[i][static_cast<int64_t>(j)].item<float>()});
        std::stable_sort(hits.begin(), hits.end(), [](const GalleryHit& a, const GalleryHit& b) { return a.distance < b.distance; });
        if (static_cast<int64_t>(hits.size()) > want) hits.resize(static_cast<std::size_t>(want));
      }
    }
  }
  std::vector<SearchResult> out;
  for (std::size_t i = 0; i < found.size(); ++i) {
    SearchResult r{i < names.size() ? names[i] : std::to_string(i), {}};
    std::set<std::string> seen;
    for (const auto& h : found[i]) {
      if (o.by_identity && !seen.insert(h.item.identity).second) continue;  // hits are nearest first
      r.hits.push_back(h);
      if (static_cast<int64_t>(r.hits.size()) == o.top_k) break;
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<SearchResult> search_images(const GalleryIndex& index, Embedder& embedder, const Dataset& queries,
                                        const SearchOptions& options) {
  check_same_model(index, embedder);
  std::vector<std::string> names;
  for (const auto& r : queries.records()) names.push_back(r.source_path().string());
  return search_embeddings(index, embedder.embed(queries), names, options);
}

nlohmann::json to_json(const std::vector<SearchResult>& results) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : results) {
    nlohmann::json hits = nlohmann::json::array();
    for (const auto& h : r.hits)
      hits.push_back({{"item", h.item.id}, {"identity", h.item.identity}, {"domain", h.item.domain},
                      {"source", h.item.source}, {"distance", h.distance}});
    out.push_back({{"query", r.query}, {"hits", hits}});
  }
  return out;
}

nlohmann::json to_json(const IndexStats& s) {
  return {{"items", s.items},          {"identities", s.identities}, {"domains", s.domains},
          {"kind", index_kind_name(s.kind)}, {"dim", s.dim},           {"generation", s.generation},
          {"fingerprint", s.fingerprint},    {"preprocessing", s.preprocessing}};
}

}  // namespace toonreid
