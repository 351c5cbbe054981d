// The gallery of known people: their images' embeddings in a FAISS index and their
// metadata in SQLite, in one folder:
//
//   gallery.sqlite          items (id, identity, domain, source path, content hash, time
//                           added, the vector itself), meta (model fingerprint, the config
//                           and weights that embed queries, index settings, the snapshot's
//                           generation and checksum) and, once calibrated, the calibration
//                           and each item's gallery-side cohort offset (cohort_offsets)
//   vectors.<generation>.faiss   a snapshot of the search structure over the unit vectors
//                           (inner product): IndexIDMap2 over a flat or HNSW index, or an
//                           IndexIVFFlat holding the ids itself
//   writer.lock             held (flock) by the one process that may change the index
//
// SQLite is the log and the commit point: an enrolment or a removal is one transaction
// of rows (O(images) written), then the in-memory structure follows. The FAISS file is a
// snapshot of some generation; opening loads it and replays the difference with the rows
// (rows it lacks are added, vectors without a row dropped). A new snapshot is written
// (temporary file, fsync, rename, then the generation and checksum committed in SQLite,
// then the old file deleted) when the log since the last one grows past
// max(snapshot_min_log, snapshot_fraction x items), on close after changes when asked, or
// by snapshot(). A crash anywhere leaves the committed rows, and the next open replays
// them. A snapshot that cannot be read or fails its checksum is rebuilt from the rows
// (repairs() says so).
//
// One writer: opening for changes takes writer.lock and fails naming the folder when
// another process holds it. Opening read-only (index stats, verify, search, scan) takes
// no lock and writes nothing: what a writer would repair is rebuilt in memory only.
//
// Searches take a shared lock, changes an exclusive one: many searches run at once, and
// an enrolment blocks them only for the short index update (embedding happens before).
// Vectors are [N, dim] float rows (N x dim, row-major), L2-normalised on the way in.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <tuple>
#include <string>
#include <vector>

#include <torch/types.h>

#include "retrieval/ann.h"
#include "retrieval/open_set_score.h"

namespace faiss {
struct Index;
}

namespace toonreid {

class Config;
class ConfigSchema;
class SqliteDb;
class SqliteStatement;

// The gallery's search structure (retrieval/ann.h; AnnSpec's member defaults are the
// gallery's). IVF with ivf_lists 0: about 4 sqrt(N) cells at the first add, at most N / 39.
// Config: index.search and its parameters (add_index_options).
using IndexOptions = AnnSpec;
void add_index_options(ConfigSchema& schema);
IndexOptions index_options(const Config& config);

enum class OpenMode { ReadWrite, ReadOnly };

// When a new snapshot is written: the log since the last one (rows added + removed)
// above max(min_log, fraction x items). HNSW replays slowly (graph insertions), so its
// log is kept shorter.
struct SnapshotPolicy {
  double fraction = 0.25;
  int64_t min_log = 1000;
  int64_t hnsw_max_log = 2000;  // HNSW: at most this many rows to replay on open
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
  int64_t log = 0;  // changes since the snapshot (replayed on open)
  std::map<std::string, int64_t> domains;
  AnnKind kind = AnnKind::Exact;
  std::string fingerprint, preprocessing;
  bool calibrated = false;
};

// The FAISS search structure a gallery index of `options` uses, trained on `train`
// [n, dim] (unit rows) when it needs training; it takes add_with_ids / remove_ids by item
// id. Exposed for benchmarks (bench_search).
std::unique_ptr<faiss::Index> make_search_structure(const IndexOptions& options, int64_t dim, const float* train, int64_t n);

// An open gallery folder (the layout above): the items, their vectors and the search
// structure over them, for search and for changes. Thread-safe: searches share a lock,
// changes take it exclusively. Throws Error naming the folder or file for a missing,
// locked, foreign or unreadable index, and for vectors of another dimension.
class GalleryIndex {
 public:
  // Creates an empty index in `dir` (absent or empty). Throws Error otherwise.
  static void create(const std::filesystem::path& dir, const IndexModel& model, const IndexOptions& options);
  // Opens, checks and if needed repairs (see above). ReadWrite takes the writer lock
  // (Error when another process holds it); ReadOnly writes nothing.
  explicit GalleryIndex(const std::filesystem::path& dir, OpenMode mode = OpenMode::ReadWrite,
                        SnapshotPolicy policy = {});
  ~GalleryIndex();
  GalleryIndex(const GalleryIndex&) = delete;
  GalleryIndex& operator=(const GalleryIndex&) = delete;

  const std::vector<std::string>& repairs() const { return repairs_; }
  const IndexModel& model() const { return model_; }
  const std::filesystem::path& dir() const { return dir_; }

  // Adds items with their vectors [N, dim] (L2-normalised here); returns their ids.
  std::vector<int64_t> add(std::vector<GalleryItem> items, const torch::Tensor& vectors);
  // Removes every item of `identity` / the item `id`; returns how many were removed
  // (and, when asked, which).
  int64_t remove_identity(const std::string& identity, std::vector<GalleryItem>* removed = nullptr);
  int64_t remove_item(int64_t id, std::vector<GalleryItem>* removed = nullptr);
  // Whether any item's image is the file `source`.
  bool references(const std::string& source) const;
  // Writes a snapshot of the present state now (nothing to do when the log is empty).
  void snapshot();
  bool read_only() const { return mode_ == OpenMode::ReadOnly; }

  // The k nearest items of each query [Q, dim] (normalised here), nearest first.
  std::vector<std::vector<GalleryHit>> search(const torch::Tensor& queries, int64_t k) const;
  // The items of `ids` that exist, in that order.
  std::vector<GalleryItem> items(const std::vector<int64_t>& ids) const;
  // Stored vectors of `ids`, [ids, dim], in that order.
  torch::Tensor vectors(const std::vector<int64_t>& ids) const;
  IndexStats stats() const;
  // Problems found: rows without vectors, vectors without rows, wrongly sized vectors,
  // vectors in the search structure that differ from the stored ones, a snapshot whose
  // checksum fails, SQLite's integrity check. Empty when the index is consistent.
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

  // For crash tests: called with "committed" after a change's transaction, "snapshot
  // written" once a new snapshot file is in place (before its generation is committed)
  // and "snapshot committed" after that (before the old file is deleted).
  std::function<void(const std::string& step)> on_step;

 private:
  void load();
  std::unique_ptr<faiss::Index> build_from_rows() const;
  // Brings the structure in line with the rows: adds the rows it lacks, drops vectors
  // without a row. Returns how many of each.
  std::pair<int64_t, int64_t> replay();
  void write_snapshot();  // with the exclusive lock held
  void maybe_snapshot();
  std::filesystem::path faiss_file(int64_t generation) const;
  // Removes the rows matching `condition` (an SQL condition with parameters that `bind`
  // binds from the given index on) and their vectors; returns how many.
  int64_t remove_where(const std::string& condition, const std::function<void(SqliteStatement&, int)>& bind,
                       std::vector<GalleryItem>* removed);
  void drop_from_structure(const std::vector<int64_t>& ids);

  std::filesystem::path dir_;
  OpenMode mode_;
  SnapshotPolicy policy_;
  int lock_fd_ = -1;
  std::unique_ptr<SqliteDb> db_;
  std::unique_ptr<faiss::Index> index_;
  std::set<int64_t> hidden_;  // HNSW: removed ids still in the graph (filtered from results)
  IndexModel model_;
  IndexOptions options_;
  int64_t generation_ = 0;
  int64_t log_ = 0;           // changes since the snapshot
  int64_t rows_ = 0;
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
