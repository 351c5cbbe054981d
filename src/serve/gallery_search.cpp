#include "serve/gallery_search.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/error.h"
#include "face/aligned_dataset.h"
#include "retrieval/rerank.h"
#include "serve/face_batcher.h"

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

const char* decision_name(Decision::Kind kind) {
  switch (kind) {
    case Decision::Kind::Match: return "match";
    case Decision::Kind::Unknown: return "unknown";
    case Decision::Kind::Uncalibrated: return "uncalibrated";
  }
  return "?";
}

namespace {

// One query's scores under the index's calibration: image scores of items from their
// distances, identity scores from image scores.
class QueryScorer {
 public:
  QueryScorer(const GalleryIndex& index, const torch::Tensor& query) : index_(index), cal_(index.calibration()), q_(query) {}
  bool calibrated() const { return cal_ != nullptr; }
  const ScoreOptions& options() const { return cal_ ? cal_->score : plain_; }

  std::vector<float> image_scores(const std::vector<GalleryItem>& items, const std::vector<float>& distances) {
    if (!cal_ || !cal_->score.needs_cohort()) return distances;
    std::vector<int64_t> ids;
    for (const auto& it : items) ids.push_back(it.id);
    const std::vector<float> offsets = index_.cohort_offsets(ids);
    std::vector<float> out(distances.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
      const auto& [mean, stdev] = stats(parse_domain(items[i].domain));
      out[i] = cal_->score.normalization == ScoreNormalization::ZNorm ? (distances[i] - mean) / std::max(stdev, 1e-6f)
                                                                      : distances[i] - 0.5f * (mean + offsets[i]);
    }
    return out;
  }

 private:
  // The query against the cohort of a gallery domain (computed once per domain).
  const std::pair<float, float>& stats(Domain d) {
    auto it = stats_.find(d);
    if (it != stats_.end()) return it->second;
    const CohortStats st = cohort_stats(q_, cal_->cohort.of(d), cal_->score.cohort_top_k);
    return stats_[d] = {st.mean[0].item<float>(), st.stdev[0].item<float>()};
  }
  const GalleryIndex& index_;
  const Calibration* cal_;
  torch::Tensor q_;  // [1, dim], unit
  ScoreOptions plain_;
  std::map<Domain, std::pair<float, float>> stats_;
};

// An identity's standing for one query: its score and its best image.
struct IdentityStanding {
  std::string identity;
  float score = 0;
  GalleryHit best;
};

// Identities of the candidates, best first. Calibrated: the best `exact` of them are
// scored from all their images (the aggregation may need images beyond the candidates).
std::vector<IdentityStanding> rank_identities(const GalleryIndex& index, QueryScorer& scorer, const torch::Tensor& q,
                                              const std::vector<GalleryHit>& hits, std::size_t exact) {
  std::map<std::string, std::vector<std::size_t>> of;
  for (std::size_t i = 0; i < hits.size(); ++i) of[hits[i].item.identity].push_back(i);
  std::vector<IdentityStanding> out;
  for (const auto& [identity, rows] : of) {
    IdentityStanding s{identity, 0, hits[rows.front()]};
    std::vector<float> v;
    for (std::size_t r : rows) {
      v.push_back(hits[r].score);
      if (hits[r].score < s.best.score) s.best = hits[r];
    }
    s.score = aggregate_identity(v, scorer.options());
    out.push_back(std::move(s));
  }
  auto better = [](const IdentityStanding& a, const IdentityStanding& b) {
    return a.score != b.score ? a.score < b.score : a.best.distance < b.best.distance;
  };
  std::stable_sort(out.begin(), out.end(), better);
  if (!scorer.calibrated() || out.empty()) return out;
  const std::size_t n = std::min(exact, out.size());
  std::vector<std::string> names;
  for (std::size_t i = 0; i < n; ++i) names.push_back(out[i].identity);
  const auto members = index.members(names);
  std::vector<GalleryItem> items;
  std::vector<float> distances;
  const float* qp = q.data_ptr<float>();
  for (const auto& m : members) {
    double dot = 0;
    for (std::size_t k = 0; k < m.vector.size(); ++k) dot += qp[k] * m.vector[k];
    items.push_back(m.item);
    distances.push_back(static_cast<float>(std::sqrt(std::max(0.0, 2.0 - 2.0 * dot))));
  }
  const std::vector<float> scores = scorer.image_scores(items, distances);
  std::map<std::string, std::vector<std::size_t>> rows_of;
  for (std::size_t i = 0; i < items.size(); ++i) rows_of[items[i].identity].push_back(i);
  for (std::size_t i = 0; i < n; ++i) {
    auto& s = out[i];
    std::vector<float> v;
    for (std::size_t r : rows_of[s.identity]) {
      v.push_back(scores[r]);
      if (v.size() == 1 || scores[r] < s.best.score) s.best = GalleryHit{items[r], distances[r], scores[r]};
    }
    if (!v.empty()) s.score = aggregate_identity(v, scorer.options());
  }
  std::stable_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n), better);
  // An identity scored exactly can only have got worse than its candidates said; keep
  // the exact ones in front (they were the best by their candidates).
  return out;
}

Decision decide(const GalleryIndex& index, const std::vector<IdentityStanding>& ranked, const SearchOptions& o) {
  Decision d;
  if (ranked.empty()) return d;
  d.identity = ranked.front().identity;
  d.score = ranked.front().score;
  const Domain domain = parse_domain(ranked.front().best.item.domain);
  if (o.threshold) {
    d.threshold = *o.threshold;
    if (index.calibration()) d.fpir = index.fpir_of(d.threshold, domain);
  } else if (index.calibration()) {
    d.threshold = index.threshold_for(o.fpir, domain);
    d.fpir = o.fpir;
  } else {
    return d;  // uncalibrated
  }
  d.kind = d.score < d.threshold ? Decision::Kind::Match : Decision::Kind::Unknown;
  return d;
}

}  // namespace

std::vector<SearchResult> search_embeddings(const GalleryIndex& index, const torch::Tensor& q_in,
                                            const std::vector<std::string>& names, const SearchOptions& o) {
  if (o.top_k < 1) throw Error("search: top-k must be at least 1");
  if (!(o.fpir > 0 && o.fpir <= 1)) throw Error("search: the FPIR must be in (0, 1]");
  if (o.threshold && !std::isfinite(*o.threshold)) throw Error("search: the threshold must be a finite number");
  const int64_t want = std::max(o.candidates, o.top_k);
  const torch::Tensor q = q_in.to(torch::kFloat).contiguous();
  const torch::Tensor qn = (q / q.norm(2, 1, true).clamp_min(1e-12)).contiguous();
  auto found = index.search(qn, want);
  std::vector<SearchResult> out;
  for (std::size_t i = 0; i < found.size(); ++i) {
    auto& hits = found[i];
    const torch::Tensor qi = qn[static_cast<int64_t>(i)].unsqueeze(0).contiguous();
    QueryScorer scorer(index, qi);
    std::vector<GalleryItem> items;
    std::vector<float> distances;
    for (const auto& h : hits) items.push_back(h.item), distances.push_back(h.distance);
    const std::vector<float> scores = scorer.image_scores(items, distances);
    for (std::size_t k = 0; k < hits.size(); ++k) hits[k].score = scores[k];
    const auto ranked = rank_identities(index, scorer, qi[0], hits, static_cast<std::size_t>(o.top_k) + 5);
    SearchResult r{i < names.size() ? names[i] : std::to_string(i), {}, decide(index, ranked, o)};
    if (o.by_identity) {
      for (const auto& s : ranked) {
        if (static_cast<int64_t>(r.hits.size()) == o.top_k) break;
        GalleryHit h = s.best;
        h.score = s.score;
        r.hits.push_back(h);
      }
    } else {
      std::stable_sort(hits.begin(), hits.end(), [](const GalleryHit& a, const GalleryHit& b) { return a.score < b.score; });
      for (const auto& h : hits) {
        if (static_cast<int64_t>(r.hits.size()) == o.top_k) break;
        r.hits.push_back(h);
      }
    }
    out.push_back(std::move(r));
  }
  if (o.rerank && q.size(0) > 0) {
    // Re-rank every query's candidates together (their union is the gallery here); the
    // decisions stay those of the calibrated scores.
    std::set<int64_t> union_ids;
    for (const auto& hits : found)
      for (const auto& h : hits) union_ids.insert(h.item.id);
    const std::vector<int64_t> ids(union_ids.begin(), union_ids.end());
    if (!ids.empty()) {
      std::map<int64_t, GalleryItem> item;
      for (const auto& hits : found)
        for (const auto& h : hits) item[h.item.id] = h.item;
      ReRankOptions rr;
      rr.neighbours.kind = AnnKind::Exact;
      const torch::Tensor d = rerank_k_reciprocal(qn, index.vectors(ids), DistanceKind::Euclidean, rr).contiguous();
      for (int64_t i = 0; i < q.size(0); ++i) {
        std::vector<GalleryHit> hits;
        for (std::size_t j = 0; j < ids.size(); ++j) {
          const float v = d[i][static_cast<int64_t>(j)].item<float>();
          hits.push_back({item[ids[j]], v, v});
        }
        std::stable_sort(hits.begin(), hits.end(), [](const GalleryHit& a, const GalleryHit& b) { return a.distance < b.distance; });
        auto& r = out[static_cast<std::size_t>(i)];
        r.hits.clear();
        std::set<std::string> seen;
        for (const auto& h : hits) {
          if (o.by_identity && !seen.insert(h.item.identity).second) continue;  // hits are nearest first
          r.hits.push_back(h);
          if (static_cast<int64_t>(r.hits.size()) == o.top_k) break;
        }
      }
    }
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

PictureSearch search_picture(const GalleryIndex& index, const Embedder& embedder, const cv::Mat& rgb8, const std::string& name,
                             const FaceSelection& selection, const SearchOptions& options) {
  check_same_model(index, embedder);
  return search_faces(index, embed_faces(embedder, rgb8, selection), name, options);
}

PictureSearch search_faces(const GalleryIndex& index, const EmbeddedFaces& found, const std::string& name,
                           const SearchOptions& options) {
  PictureSearch p;
  p.picture = name;
  if (found.faces.empty()) return p;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < found.faces.size(); ++i) names.push_back(name + "#" + std::to_string(i + 1));
  auto results = search_embeddings(index, found.embeddings, names, options);
  for (std::size_t i = 0; i < found.faces.size(); ++i) {
    const AlignedFace& f = found.faces[i];
    p.faces.push_back({static_cast<int>(i + 1), f.box, face_path_name(f.path), f.score, std::move(results[i])});
  }
  return p;
}

namespace {

nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json hits_json(const std::vector<GalleryHit>& hits) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& h : hits)
    out.push_back({{"item", h.item.id}, {"identity", h.item.identity}, {"domain", h.item.domain},
                   {"source", h.item.source}, {"distance", h.distance}, {"score", h.score}});
  return out;
}

}  // namespace

nlohmann::json to_json(const Decision& d) {
  return {{"decision", decision_name(d.kind)},
          {"identity", d.identity.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.identity)},
          {"score", finite_or_null(d.score)},
          {"threshold", finite_or_null(d.threshold)},
          {"fpir", finite_or_null(d.fpir)}};
}

nlohmann::json to_json(const PictureSearch& p) {
  nlohmann::json faces = nlohmann::json::array();
  for (const auto& f : p.faces) {
    nlohmann::json j = to_json(f.result.decision);
    j["face"] = f.index;
    j["box"] = {f.box.x, f.box.y, f.box.width, f.box.height};
    j["detector"] = f.path;
    j["detector_score"] = f.detector_score;
    j["hits"] = hits_json(f.result.hits);
    faces.push_back(j);
  }
  nlohmann::json j = {{"picture", p.picture}, {"faces", faces}};
  if (p.faces.empty()) j["message"] = "no face found";
  return j;
}

nlohmann::json to_json(const std::vector<SearchResult>& results) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : results) {
    nlohmann::json j = to_json(r.decision);
    j["query"] = r.query;
    j["hits"] = hits_json(r.hits);
    out.push_back(j);
  }
  return out;
}

nlohmann::json to_json(const IndexStats& s) {
  return {{"items", s.items},          {"identities", s.identities}, {"domains", s.domains},
          {"kind", ann_kind_name(s.kind)}, {"dim", s.dim},           {"generation", s.generation},
          {"fingerprint", s.fingerprint},    {"preprocessing", s.preprocessing}, {"calibrated", s.calibrated}};
}

}  // namespace toonreid
