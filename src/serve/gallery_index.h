// The gallery of known people: their images' embeddings in a FAISS index and their
// metadata in SQLite, in one folder:
//
//   gallery.sqlite          items (id, identity, domain, source path, content hash, time
//                           added, the vector itself) and meta (model fingerprint, the
//                           config and weights that embed queries, index settings,
//                           generation)
//                           and, once calibrated (set_calibration), the calibration and
//                           each item's gallery-side cohort offset (cohort_offsets)
//   vectors.<generation>.faiss   the search structure over the L2-normalised vectors
//                           (inner product): IndexIDMap2 over a flat or HNSW index, or an
//                           IndexIVFFlat holding the ids itself
//
// SQLite is the commit point. A change writes the next generation's FAISS file first
// (temporary file, fsync, rename), then commits rows and the new generation number in
// one transaction, then deletes the old file. A crash before the commit leaves the old
// generation in force (the new file is deleted on open); after it, the new one. Opening
// also checks that the FAISS ids equal the rows' ids and rebuilds the FAISS file from
// the stored vectors when they do not (repairs() says what was done).
//
// Searches take a shared lock, changes an exclusive one: many searches run at once, and
// an enrolment blocks them only for the short index update (embedding happens before).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <tuple>
#include <string>
#include <vector>

#include <torch/types.h>

#include "retrieval/open_set_score.h"

namespace faiss {
struct Index;
}

namespace toonreid {

class SqliteDb;
class SqliteStatement;

enum class IndexKind { Flat, Ivf, Hnsw };
IndexKind parse_index_kind(const std::string& name);  // "flat" (exact), "ivf", "hnsw"
const char* index_kind_name(IndexKind kind);

struct IndexOptions {
  IndexKind kind = IndexKind::Flat;
  int ivf_lists = 0;   // 0: about 4 sqrt(N) at the first add, at most N / 39
  int ivf_probe = 16;
  int hnsw_m = 32;
  int hnsw_ef_search = 64;
};

// What embedded the vectors: queries must be embedded the same way.
struct IndexModel {
  std::string fingerprint;    // hash of the weights and the input settings
  std::string config_yaml;    // merged config (input, face, test options)
  std::string weights;        // checkpoint path, empty: the config's pretrained network
  std::string preprocessing;  // human-readable: input size, alignment chain
  int64_t dim = 0;
};

struct GalleryItem {
  int64_t id = 0;  // assigned by add()
  std::string identity, domain, source, content_hash;
  int64_t added_at = 0;  // Unix seconds, assigned by add()
};

struct GalleryHit {
  GalleryItem item;
  float distance = 0;  // Euclidean distance between the L2-normalised embeddings, in [0, 2]
  // What the ranking used: the identity score (search by identity) or the image score
  // (by image) under the index's calibration; the distance when uncalibrated.
  float score = 0;
};

struct IndexStats {
  int64_t items = 0, identities = 0, generation = 0, dim = 0;
  std::map<std::string, int64_t> domains;
  IndexKind kind = IndexKind::Flat;
  std::string fingerprint, preprocessing;
  bool calibrated = false;
};

// The FAISS search structure a gallery index of `options` uses, trained on `train`
// [n, dim] (unit rows) when it needs training; it takes add_with_ids / remove_ids by item
// id. Exposed for benchmarks (bench_search).
std::unique_ptr<faiss::Index> make_search_structure(const IndexOptions& options, int64_t dim, const float* train, int64_t n);

class GalleryIndex {
 public:
  // Creates an empty index in `dir` (absent or empty). Throws Error otherwise.
  static void create(const std::filesystem::path& dir, const IndexModel& model, const IndexOptions& options);
  // Opens, checks and if needed repairs (see above).
  explicit GalleryIndex(const std::filesystem::path& dir);
  ~GalleryIndex();
  GalleryIndex(const GalleryIndex&) = delete;
  GalleryIndex& operator=(const GalleryIndex&) = delete;

  const std::vector<std::string>& repairs() const { return repairs_; }
  const IndexModel& model() const { return model_; }
  const std::filesystem::path& dir() const { return dir_; }

  // Adds items with their vectors [N, dim] (L2-normalised here); returns their ids.
  std::vector<int64_t> add(std::vector<GalleryItem> items, const torch::Tensor& vectors);
  // Removes every item of `identity` / the item `id`; returns how many were removed.
  int64_t remove_identity(const std::string& identity);
  int64_t remove_item(int64_t id);

  // The k nearest items of each query [Q, dim] (normalised here), nearest first.
  std::vector<std::vector<GalleryHit>> search(const torch::Tensor& queries, int64_t k) const;
  // The items of `ids` that exist, in that order.
  std::vector<GalleryItem> items(const std::vector<int64_t>& ids) const;
  // Stored vectors of `ids`, [ids, dim], in that order.
  torch::Tensor vectors(const std::vector<int64_t>& ids) const;
  IndexStats stats() const;
  // Problems found (rows without vectors, vectors without rows, wrong sizes); empty when
  // the index is consistent.
  std::vector<std::string> verify() const;

  // The calibration the index decides with (score settings, cohort, thresholds), or
  // nullptr when it has none (searches then answer top-k, marked uncalibrated).
  const Calibration* calibration() const { return calibration_.get(); }
  // Attaches or replaces the calibration, in one transaction with every item's cohort
  // offset when its score needs them. Throws Error when it belongs to another model
  // (fingerprint) or lacks a direction for a domain the gallery holds.
  void set_calibration(const Calibration& calibration);
  // Gallery-side cohort offsets c(g, query domain) of the items (snorm), in that order;
  // 0 for items without one (uncalibrated, or a score that needs none).
  std::vector<float> cohort_offsets(const std::vector<int64_t>& ids) const;
  // The decision threshold for a target FPIR at the index's present number of
  // identities, for queries of a gallery of `gallery_domain` (cached); and the FPIR a
  // threshold corresponds to. Throw Error without a calibration.
  double threshold_for(double fpir, Domain gallery_domain) const;
  double fpir_of(double threshold, Domain gallery_domain) const;
  int64_t identity_count() const;
  // Every item of the given identities, with its stored vector (exact identity scores
  // beyond the retrieved candidates).
  struct Member {
    GalleryItem item;
    std::vector<float> vector;
  };
  std::vector<Member> members(const std::vector<std::string>& identities) const;

  // For crash tests: called with "faiss written" after the new FAISS file is in place and
  // before the SQLite commit, and with "committed" after the commit.
  std::function<void(const std::string& step)> on_step;

 private:
  void load_or_repair();
  std::unique_ptr<faiss::Index> build_from_rows(int64_t* count) const;
  // Writes `next` as generation generation_ + 1, runs `commit_rows` inside the SQLite
  // transaction that records the new generation, then retires the old file.
  void commit(faiss::Index& next, const std::function<void()>& commit_rows);
  std::filesystem::path faiss_file(int64_t generation) const;
  // Removes the rows matching `condition` (an SQL condition with parameters that `bind`
  // binds from the given index on) and their vectors; returns how many.
  int64_t remove_where(const std::string& condition, const std::function<void(SqliteStatement&, int)>& bind);

  std::filesystem::path dir_;
  std::unique_ptr<SqliteDb> db_;
  std::unique_ptr<faiss::Index> index_;
  IndexModel model_;
  IndexOptions options_;
  int64_t generation_ = 0;
  std::vector<std::string> repairs_;
  // Offsets of new vectors [N, dim] of items of `domains` (empty without a calibration
  // whose score uses them).
  std::vector<float> offsets_for(const torch::Tensor& unit_vectors, const std::vector<std::string>& domains) const;
  void load_calibration();
  std::unique_ptr<Calibration> calibration_;
  std::map<int64_t, float> offsets_;              // item id -> gallery-side cohort offset
  std::map<std::string, int64_t> identity_items_;  // identity -> items
  mutable std::mutex threshold_mutex_;
  mutable std::map<std::tuple<double, int, int64_t>, double> thresholds_;  // (fpir, domain, identities)
  mutable std::shared_mutex mutex_;
};

}  // namespace toonreid
