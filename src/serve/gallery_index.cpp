#include "serve/gallery_index.h"

#include <fcntl.h>
#include <unistd.h>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/clone_index.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <sys/file.h>

#include <algorithm>
#include <cstdio>
#include <chrono>
#include <cmath>
#include <mutex>
#include <numeric>
#include <set>

#include "core/config.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/text.h"
#include "data/dataset.h"
#include "serve/sqlite_db.h"

namespace toonreid {

namespace fs = std::filesystem;

void add_index_options(ConfigSchema& schema) {
  schema.describe_section("index", "The gallery index's search structure (toonreid index build; the build's flags override).");
  add_ann_options(schema, "index", gallery_ann_defaults(AnnKind::Exact), "Search structure of a new gallery index");
}

IndexOptions index_options(const Config& config) { return ann_options(config, "index"); }

namespace {

const char* kDatabase = "gallery.sqlite";

std::string meta(SqliteDb& db, const std::string& key) {
  SqliteStatement s(db, "SELECT value FROM meta WHERE key = ?");
  s.bind(1, key);
  if (!s.step()) throw Error(db.file().string() + ": no '" + key + "' in meta (not a toonreid gallery index?)");
  return s.column_text(0);
}

bool has_meta(SqliteDb& db, const std::string& key) {
  SqliteStatement s(db, "SELECT 1 FROM meta WHERE key = ?");
  s.bind(1, key);
  return s.step();
}

void set_meta(SqliteDb& db, const std::string& key, const std::string& value) {
  SqliteStatement s(db, "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  s.bind(1, key).bind(2, value).step();
}

void fsync_path(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

torch::Tensor unit_rows(const torch::Tensor& x) {
  torch::Tensor f = x.to(torch::kFloat).contiguous();
  return (f / f.norm(2, 1, true).clamp_min(1e-12)).contiguous();
}

// The search structure for `options`, trained on `train` [n, dim] when it needs it;
// every kind takes add_with_ids and remove_ids by item id.
std::unique_ptr<faiss::Index> make_index(const IndexOptions& options, int64_t dim, const float* train, int64_t n) {
  std::unique_ptr<faiss::Index> inner;
  if (options.kind == AnnKind::Ivf && n > 0) {
    // FAISS wants ~39 training points per list.
    const int64_t auto_lists = std::llround(4 * std::sqrt(static_cast<double>(n)));
    IndexOptions ivf = options;
    ivf.ivf_lists = static_cast<int>(
        std::clamp<int64_t>(options.ivf_lists > 0 ? options.ivf_lists : auto_lists, 1, std::max<int64_t>(1, n / 39)));
    // IVF lists keep the item ids themselves (and removal by id): no id map around them,
    // whose renumbering after a removal assumes the inner index shifts its rows.
    return make_ann_index(ivf, dim, faiss::METRIC_INNER_PRODUCT, train, n);
  }
  // Flat, HNSW, and an IVF index before its first vectors (searched exactly until then).
  IndexOptions plain = options;
  if (plain.kind == AnnKind::Ivf) plain.kind = AnnKind::Exact;
  inner = make_ann_index(plain, dim, faiss::METRIC_INNER_PRODUCT);
  auto map = std::make_unique<faiss::IndexIDMap2>(inner.release());
  map->own_fields = true;
  return map;
}

std::vector<int64_t> faiss_ids(const faiss::Index& index) {
  std::vector<int64_t> ids;
  if (const auto* map = dynamic_cast<const faiss::IndexIDMap2*>(&index)) {
    ids.assign(map->id_map.begin(), map->id_map.end());
  } else if (const auto* ivf = dynamic_cast<const faiss::IndexIVF*>(&index)) {
    for (std::size_t l = 0; l < ivf->nlist; ++l) {
      const std::size_t n = ivf->invlists->list_size(l);
      faiss::InvertedLists::ScopedIds list(ivf->invlists, l);
      ids.insert(ids.end(), list.get(), list.get() + n);
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<int64_t> row_ids(SqliteDb& db) {
  std::vector<int64_t> ids;
  SqliteStatement s(db, "SELECT id FROM items ORDER BY id");
  while (s.step()) ids.push_back(s.column_int(0));
  return ids;
}

IndexOptions options_from_meta(SqliteDb& db) {
  IndexOptions o;
  o.kind = parse_ann_kind(meta(db, "index_kind"));
  o.ivf_lists = std::stoi(meta(db, "ivf_lists"));
  o.ivf_probe = std::stoi(meta(db, "ivf_probe"));
  o.hnsw_m = std::stoi(meta(db, "hnsw_m"));
  o.hnsw_ef_search = std::stoi(meta(db, "hnsw_ef_search"));
  // Indexes written before it was recorded were built with FAISS's default (40).
  if (has_meta(db, "hnsw_ef_construction")) o.hnsw_ef_construction = std::stoi(meta(db, "hnsw_ef_construction"));
  return o;
}

}  // namespace

std::unique_ptr<faiss::Index> make_search_structure(const IndexOptions& options, int64_t dim, const float* train, int64_t n) {
  return make_index(options, dim, train, n);
}

void GalleryIndex::create(const fs::path& dir, const IndexModel& model, const IndexOptions& options) {
  if (fs::exists(dir) && !fs::is_empty(dir)) throw Error(dir.string() + ": exists and is not empty; an index is built into a new folder");
  if (model.dim <= 0) throw Error("index: the model's embedding size is unknown");
  fs::create_directories(dir);
  const fs::path tmp = dir / (std::string(kDatabase) + ".new");
  fs::remove(tmp);
  {
    SqliteDb db(tmp);
    db.exec("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "CREATE TABLE items(id INTEGER PRIMARY KEY AUTOINCREMENT, identity TEXT NOT NULL, domain TEXT NOT NULL,"
            " source TEXT NOT NULL, content_hash TEXT NOT NULL, added_at INTEGER NOT NULL, vector BLOB NOT NULL);"
            "CREATE INDEX items_identity ON items(identity);");
    SqliteTransaction t(db);
    for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
             {"format", "toonreid gallery 1"},
             {"fingerprint", model.fingerprint},
             {"config_yaml", model.config_yaml},
             {"weights", model.weights},
             {"preprocessing", model.preprocessing},
             {"dim", std::to_string(model.dim)},
             {"index_kind", ann_kind_name(options.kind)},
             {"ivf_lists", std::to_string(options.ivf_lists)},
             {"ivf_probe", std::to_string(options.ivf_probe)},
             {"hnsw_m", std::to_string(options.hnsw_m)},
             {"hnsw_ef_search", std::to_string(options.hnsw_ef_search)},
             {"hnsw_ef_construction", std::to_string(options.hnsw_ef_construction)},
             {"generation", "0"}})
      set_meta(db, k, v);
    t.commit();
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  fs::remove(fs::path(tmp.string() + "-wal"));
  fs::remove(fs::path(tmp.string() + "-shm"));
  fs::rename(tmp, dir / kDatabase);  // the index exists once its database does
  fsync_path(dir);
}

GalleryIndex::GalleryIndex(const fs::path& dir, OpenMode mode, SnapshotPolicy policy)
    : dir_(dir), mode_(mode), policy_(policy) {
  if (!fs::exists(dir / kDatabase))
    throw Error(dir.string() + ": not a gallery index (no " + kDatabase + "; build one with `toonreid index build`)");
  if (mode_ == OpenMode::ReadWrite) {
    // One writer at a time: the lock lives as long as this object (and the process).
    lock_fd_ = ::open((dir / "writer.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0) throw Error((dir / "writer.lock").string() + ": cannot open the index's lock file");
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(lock_fd_);
      lock_fd_ = -1;
      throw Error(dir.string() + ": another process is changing this index (toonreid serve, index add, ...); one writer "
                                 "at a time (read-only commands such as index stats and search still work)");
    }
  }
  try {
    db_ = std::make_unique<SqliteDb>(dir / kDatabase);
    if (meta(*db_, "format") != "toonreid gallery 1") throw Error(dir.string() + ": unknown index format");
    model_.fingerprint = meta(*db_, "fingerprint");
    model_.config_yaml = meta(*db_, "config_yaml");
    model_.weights = meta(*db_, "weights");
    model_.preprocessing = meta(*db_, "preprocessing");
    model_.dim = std::stoll(meta(*db_, "dim"));
    options_ = options_from_meta(*db_);
    generation_ = std::stoll(meta(*db_, "generation"));
  } catch (const std::logic_error&) {
    if (lock_fd_ >= 0) ::close(lock_fd_);
    throw Error(dir.string() + ": damaged settings in " + kDatabase);
  } catch (...) {
    if (lock_fd_ >= 0) ::close(lock_fd_);
    throw;
  }
  load();
  SqliteStatement counts(*db_, "SELECT identity, COUNT(*) FROM items GROUP BY identity");
  while (counts.step()) identity_items_[counts.column_text(0)] = counts.column_int(1);
  load_calibration();
}

void GalleryIndex::load_calibration() {
  if (!has_meta(*db_, "calibration")) return;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(meta(*db_, "calibration"));
  } catch (const std::exception& e) {
    throw Error(db_->file().string() + ": the stored calibration is not JSON: " + std::string(e.what()).substr(0, 100));
  }
  calibration_ = std::make_unique<Calibration>(Calibration::from_json(j, db_->file().string() + " (calibration)"));
  offsets_.clear();
  if (calibration_->score.normalization != ScoreNormalization::SNorm) return;
  SqliteStatement s(*db_, "SELECT id, offset FROM cohort_offsets");
  while (s.step()) offsets_[s.column_int(0)] = static_cast<float>(s.column_double(1));
  if (offsets_.size() != static_cast<std::size_t>(std::accumulate(
                             identity_items_.begin(), identity_items_.end(), int64_t{0},
                             [](int64_t n, const auto& kv) { return n + kv.second; })))
    repairs_.push_back("cohort offsets do not cover every item (run `toonreid index calibrate` again)");
}

std::vector<float> GalleryIndex::offsets_for(const torch::Tensor& unit, const std::vector<std::string>& domains) const {
  if (!calibration_ || calibration_->score.normalization != ScoreNormalization::SNorm) return {};
  std::vector<float> out(domains.size(), 0.0f);
  for (Domain d : {Domain::Photo, Domain::Cartoon}) {
    std::vector<int64_t> rows;
    for (std::size_t i = 0; i < domains.size(); ++i)
      if (domains[i] == domain_name(d)) rows.push_back(static_cast<int64_t>(i));
    if (rows.empty()) continue;
    // A gallery image of domain d meets queries of the other domain: its offset is its
    // closeness to that domain's cohort.
    const Domain query_domain = calibration_->direction(d).query_domain;
    const CohortStats st = cohort_stats(unit.index_select(0, torch::tensor(rows, torch::kLong)),
                                        calibration_->cohort.of(query_domain), calibration_->score.cohort_top_k);
    for (std::size_t k = 0; k < rows.size(); ++k) out[static_cast<std::size_t>(rows[k])] = st.mean[static_cast<int64_t>(k)].item<float>();
  }
  return out;
}

void GalleryIndex::set_calibration(const Calibration& calibration) {
  if (mode_ != OpenMode::ReadWrite) throw Error(dir_.string() + ": opened read-only");
  if (calibration.fingerprint != model_.fingerprint)
    throw Error(dir_.string() + ": the calibration belongs to model " + calibration.fingerprint + ", the index to " +
                model_.fingerprint + ": its thresholds would not fit (calibrate the index's own model)");
  std::unique_lock lock(mutex_);
  {
    SqliteStatement s(*db_, "SELECT DISTINCT domain FROM items");
    while (s.step()) calibration.direction(parse_domain(s.column_text(0)));  // throws for an uncovered domain
  }
  auto next = std::make_unique<Calibration>(calibration);
  std::swap(calibration_, next);  // offsets_for reads the new one
  std::map<int64_t, float> offsets;
  try {
    if (calibration_->score.normalization == ScoreNormalization::SNorm) {
      std::vector<int64_t> ids;
      std::vector<std::string> domains;
      std::vector<float> data;
      SqliteStatement s(*db_, "SELECT id, domain, vector FROM items ORDER BY id");
      while (s.step()) {
        ids.push_back(s.column_int(0));
        domains.push_back(s.column_text(1));
        const auto v = s.column_floats(2);
        data.insert(data.end(), v.begin(), v.end());
      }
      const torch::Tensor unit =
          torch::from_blob(data.data(), {static_cast<int64_t>(ids.size()), model_.dim}, torch::kFloat).clone();
      const std::vector<float> o = ids.empty() ? std::vector<float>{} : offsets_for(unit, domains);
      for (std::size_t i = 0; i < ids.size(); ++i) offsets[ids[i]] = o[i];
    }
    SqliteTransaction t(*db_);
    db_->exec("CREATE TABLE IF NOT EXISTS cohort_offsets(id INTEGER PRIMARY KEY, offset REAL NOT NULL); DELETE FROM cohort_offsets;");
    SqliteStatement insert(*db_, "INSERT INTO cohort_offsets(id, offset) VALUES(?, ?)");
    for (const auto& [id, o] : offsets) {
      insert.reset();
      insert.bind(1, id).bind_double(2, o);
      insert.step();
    }
    set_meta(*db_, "calibration", calibration_->to_json().dump());
    t.commit();
  } catch (...) {
    std::swap(calibration_, next);  // the stored state is unchanged
    throw;
  }
  offsets_ = std::move(offsets);
  std::lock_guard tl(threshold_mutex_);
  thresholds_.clear();
}

std::vector<float> GalleryIndex::cohort_offsets(const std::vector<int64_t>& ids) const {
  std::shared_lock lock(mutex_);
  std::vector<float> out;
  out.reserve(ids.size());
  for (int64_t id : ids) {
    auto it = offsets_.find(id);
    out.push_back(it == offsets_.end() ? 0.0f : it->second);
  }
  return out;
}

int64_t GalleryIndex::identity_count() const {
  std::shared_lock lock(mutex_);
  return static_cast<int64_t>(identity_items_.size());
}

double GalleryIndex::threshold_for(double fpir, Domain gallery_domain) const {
  if (!calibration_) throw Error(dir_.string() + ": the index has no calibration");
  const int64_t n = identity_count();
  const auto key = std::make_tuple(fpir, static_cast<int>(gallery_domain), n);
  {
    std::lock_guard lock(threshold_mutex_);
    if (auto it = thresholds_.find(key); it != thresholds_.end()) return it->second;
  }
  const double t = calibration_->direction(gallery_domain).identification.threshold(fpir, std::max<int64_t>(1, n));
  std::lock_guard lock(threshold_mutex_);
  return thresholds_[key] = t;
}

double GalleryIndex::fpir_of(double threshold, Domain gallery_domain) const {
  if (!calibration_) throw Error(dir_.string() + ": the index has no calibration");
  return calibration_->direction(gallery_domain).identification.fpir(threshold, std::max<int64_t>(1, identity_count()));
}

std::vector<GalleryIndex::Member> GalleryIndex::members(const std::vector<std::string>& identities) const {
  std::shared_lock lock(mutex_);
  std::vector<Member> out;
  SqliteStatement s(*db_, "SELECT id, identity, domain, source, content_hash, added_at, vector FROM items WHERE identity = ? ORDER BY id");
  for (const auto& identity : identities) {
    s.reset();
    s.bind(1, identity);
    while (s.step())
      out.push_back({{s.column_int(0), s.column_text(1), s.column_text(2), s.column_text(3), s.column_text(4), s.column_int(5)},
                     s.column_floats(6)});
  }
  return out;
}

GalleryIndex::~GalleryIndex() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the writer lock
}

fs::path GalleryIndex::faiss_file(int64_t generation) const {
  return dir_ / ("vectors." + std::to_string(generation) + ".faiss");
}

namespace {

// FAISS file I/O through a checksum of every byte.
struct ChecksumWriter : faiss::IOWriter {
  explicit ChecksumWriter(const fs::path& file) : f(std::fopen(file.c_str(), "wb")) {
    name = file.string();
    if (!f) throw Error(name + ": cannot write the snapshot");
  }
  ~ChecksumWriter() noexcept(false) override {
    if (f) std::fclose(f);
  }
  size_t operator()(const void* p, size_t size, size_t n) override {
    sum.add(p, size * n);
    return std::fwrite(p, size, n, f);
  }
  // Flushes, syncs and closes; throws when anything failed.
  void finish() {
    const bool ok = std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
    const bool closed = std::fclose(f) == 0;
    f = nullptr;
    if (!ok || !closed) throw Error(name + ": writing the snapshot failed (disk full?)");
  }
  std::FILE* f;
  StreamChecksum sum;
};

struct ChecksumReader : faiss::IOReader {
  explicit ChecksumReader(const fs::path& file) : f(std::fopen(file.c_str(), "rb")) { name = file.string(); }
  ~ChecksumReader() override {
    if (f) std::fclose(f);
  }
  size_t operator()(void* p, size_t size, size_t n) override {
    const size_t got = std::fread(p, size, n, f);
    sum.add(p, size * got);
    return got;
  }
  std::FILE* f;
  StreamChecksum sum;
};

// The snapshot in `file` and its checksum, or nothing with the reason.
std::unique_ptr<faiss::Index> read_snapshot(const fs::path& file, std::string* checksum, std::string* why) {
  ChecksumReader in(file);
  if (!in.f) {
    *why = "missing";
    return nullptr;
  }
  try {
    std::unique_ptr<faiss::Index> index(faiss::read_index(&in));
    // Bytes beyond what FAISS read are part of the file too.
    char rest[4096];
    while (const size_t n = std::fread(rest, 1, sizeof rest, in.f)) in.sum.add(rest, n);
    *checksum = in.sum.hex();
    return index;
  } catch (const std::exception& e) {
    *why = std::string("unreadable (") + std::string(e.what()).substr(0, 80) + ")";
    return nullptr;
  }
}

std::string file_checksum(const fs::path& file) {
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (!f) return {};
  StreamChecksum sum;
  char buf[1 << 16];
  while (const size_t n = std::fread(buf, 1, sizeof buf, f)) sum.add(buf, n);
  std::fclose(f);
  return sum.hex();
}

}  // namespace

void GalleryIndex::load() {
  const bool writer = mode_ == OpenMode::ReadWrite;
  if (writer) {
    // Files of other generations are leftovers of an interrupted snapshot.
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string name = e.path().filename().string();
      const bool faiss = name.rfind("vectors.", 0) == 0;
      if ((faiss && e.path() != faiss_file(generation_)) || name.find(".tmp") != std::string::npos) {
        fs::remove(e.path());
        repairs_.push_back("removed " + name + " (left by an interrupted snapshot)");
      }
    }
  }
  std::string checksum, why;
  index_ = read_snapshot(faiss_file(generation_), &checksum, &why);
  if (index_ && index_->d != model_.dim) {
    why = "of " + std::to_string(index_->d) + "-d vectors, not " + std::to_string(model_.dim);
    index_.reset();
  }
  const bool snapshotted = has_meta(*db_, "snapshot_checksum");
  if (index_ && snapshotted && meta(*db_, "snapshot_checksum") != checksum) {
    why = "damaged (checksum " + checksum + ", " + meta(*db_, "snapshot_checksum") + " expected)";
    index_.reset();
  }
  if (!index_) {
    // No snapshot was ever written (or one before toonreid kept checksums): the rows are
    // the whole log. Otherwise the snapshot is lost or damaged: a repair.
    const bool never = why == "missing" && (!snapshotted || generation_ == 0);
    if (!never)
      repairs_.push_back(faiss_file(generation_).filename().string() + " is " + why + ": rebuilt from the stored vectors" +
                         (writer ? "" : " (in memory only: opened read-only)"));
    index_ = build_from_rows();
    hidden_.clear();
    SqliteStatement rows(*db_, "SELECT COUNT(*) FROM items");
    rows.step();
    rows_ = rows.column_int(0);
    log_ = rows_;
  } else {
    const auto [added, dropped] = replay();
    log_ = added + dropped;
  }
  if (writer && !repairs_.empty()) {
    std::unique_lock lock(mutex_);
    write_snapshot();
  }
}

std::unique_ptr<faiss::Index> GalleryIndex::build_from_rows() const {
  std::vector<float> data;
  std::vector<faiss::Index::idx_t> ids;
  SqliteStatement s(*db_, "SELECT id, vector FROM items ORDER BY id");
  while (s.step()) {
    std::vector<float> v = s.column_floats(1);
    if (static_cast<int64_t>(v.size()) != model_.dim)
      throw Error(db_->file().string() + ": item " + std::to_string(s.column_int(0)) + " has a vector of size " +
                  std::to_string(v.size()) + ", not " + std::to_string(model_.dim));
    ids.push_back(s.column_int(0));
    data.insert(data.end(), v.begin(), v.end());
  }
  const auto count = static_cast<int64_t>(ids.size());
  auto index = make_index(options_, model_.dim, data.data(), count);
  if (!ids.empty()) index->add_with_ids(count, data.data(), ids.data());
  return index;
}

std::pair<int64_t, int64_t> GalleryIndex::replay() {
  const std::vector<int64_t> rows = row_ids(*db_), have = faiss_ids(*index_);
  rows_ = static_cast<int64_t>(rows.size());
  std::vector<int64_t> missing, extra;
  std::set_difference(rows.begin(), rows.end(), have.begin(), have.end(), std::back_inserter(missing));
  std::set_difference(have.begin(), have.end(), rows.begin(), rows.end(), std::back_inserter(extra));
  if (!missing.empty()) {
    // Rows after the snapshot: their ids are above every id in it, read in one pass.
    std::vector<float> data;
    std::vector<faiss::Index::idx_t> ids;
    const std::set<int64_t> want(missing.begin(), missing.end());
    SqliteStatement s(*db_, "SELECT id, vector FROM items WHERE id >= ? ORDER BY id");
    s.bind(1, missing.front());
    while (s.step()) {
      const int64_t id = s.column_int(0);
      if (!want.count(id)) continue;
      const std::vector<float> v = s.column_floats(1);
      if (static_cast<int64_t>(v.size()) != model_.dim)
        throw Error(db_->file().string() + ": item " + std::to_string(id) + " has a vector of size " + std::to_string(v.size()));
      ids.push_back(id);
      data.insert(data.end(), v.begin(), v.end());
    }
    if (options_.kind == AnnKind::Ivf && index_->ntotal == 0)
      index_ = make_index(options_, model_.dim, data.data(), static_cast<int64_t>(ids.size()));
    index_->add_with_ids(static_cast<int64_t>(ids.size()), data.data(), ids.data());
  }
  drop_from_structure(extra);
  return {static_cast<int64_t>(missing.size()), static_cast<int64_t>(extra.size())};
}

void GalleryIndex::drop_from_structure(const std::vector<int64_t>& ids) {
  if (ids.empty()) return;
  if (options_.kind == AnnKind::Hnsw) {
    // FAISS cannot take nodes out of an HNSW graph: they are hidden from results until
    // the next snapshot rebuilds the graph.
    hidden_.insert(ids.begin(), ids.end());
    return;
  }
  std::vector<faiss::Index::idx_t> remove(ids.begin(), ids.end());
  faiss::IDSelectorBatch selector(remove.size(), remove.data());
  index_->remove_ids(selector);
}

void GalleryIndex::write_snapshot() {
  if (mode_ != OpenMode::ReadWrite) throw Error(dir_.string() + ": opened read-only");
  if (options_.kind == AnnKind::Hnsw && !hidden_.empty()) {
    index_ = build_from_rows();  // the graph without the removed nodes
    hidden_.clear();
  }
  const int64_t next = generation_ + 1;
  const fs::path file = faiss_file(next), tmp = file.string() + ".tmp";
  std::string checksum;
  {
    ChecksumWriter out(tmp);
    faiss::write_index(index_.get(), &out);
    out.finish();
    checksum = out.sum.hex();
  }
  fs::rename(tmp, file);
  fsync_path(dir_);
  if (on_step) on_step("snapshot written");
  SqliteTransaction t(*db_);
  set_meta(*db_, "generation", std::to_string(next));
  set_meta(*db_, "snapshot_checksum", checksum);
  t.commit();
  if (on_step) on_step("snapshot committed");
  fs::remove(faiss_file(generation_));
  generation_ = next;
  log_ = 0;
}

void GalleryIndex::maybe_snapshot() {
  const int64_t limit = options_.kind == AnnKind::Hnsw
                            ? std::min<int64_t>(policy_.hnsw_max_log, std::max<int64_t>(policy_.min_log, llround(policy_.fraction * rows_)))
                            : std::max<int64_t>(policy_.min_log, llround(policy_.fraction * static_cast<double>(rows_)));
  if (log_ > limit) write_snapshot();
}

void GalleryIndex::snapshot() {
  std::unique_lock lock(mutex_);
  if (log_ > 0 || !fs::exists(faiss_file(generation_))) write_snapshot();
}

std::vector<int64_t> GalleryIndex::add(std::vector<GalleryItem> items, const torch::Tensor& vectors) {
  if (mode_ != OpenMode::ReadWrite) throw Error(dir_.string() + ": opened read-only");
  if (vectors.dim() != 2 || vectors.size(0) != static_cast<int64_t>(items.size()) || vectors.size(1) != model_.dim)
    throw Error("index add: " + std::to_string(items.size()) + " items need [" + std::to_string(items.size()) + ", " +
                std::to_string(model_.dim) + "] vectors");
  if (items.empty()) return {};
  for (const auto& item : items) {
    if (const std::string why = identity_name_problem(item.identity); !why.empty())
      throw DataError("identity '" + printable(item.identity) + "' " + why);
    if (!is_valid_utf8(item.source)) throw DataError("image path '" + printable(item.source) + "' is not valid UTF-8");
    parse_domain(item.domain);
  }
  const torch::Tensor v = unit_rows(vectors);
  if (!torch::isfinite(v).all().item<bool>()) throw Error("index add: the vectors contain NaN or infinite values");
  std::unique_lock lock(mutex_);
  // Ids continue after the largest ever given (AUTOINCREMENT keeps removed ids unused).
  int64_t next_id = 1;
  {
    SqliteStatement s(*db_, "SELECT seq FROM sqlite_sequence WHERE name = 'items'");
    if (s.step()) next_id = s.column_int(0) + 1;
  }
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::vector<faiss::Index::idx_t> ids(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) ids[i] = next_id + static_cast<int64_t>(i), items[i].added_at = now;
  const float* data = v.data_ptr<float>();
  std::vector<std::string> domains;
  for (const auto& item : items) domains.push_back(item.domain);
  if (calibration_)
    for (const auto& d : domains) calibration_->direction(parse_domain(d));  // a domain the calibration covers
  const std::vector<float> offsets = offsets_for(v, domains);
  {
    // The log entry: the rows (with their vectors) in one transaction, O(images) written.
    SqliteTransaction t(*db_);
    SqliteStatement insert(*db_, "INSERT INTO items(id, identity, domain, source, content_hash, added_at, vector)"
                                 " VALUES(?, ?, ?, ?, ?, ?, ?)");
    for (std::size_t i = 0; i < items.size(); ++i) {
      insert.reset();
      insert.bind(1, ids[i]).bind(2, items[i].identity).bind(3, items[i].domain).bind(4, items[i].source);
      insert.bind(5, items[i].content_hash).bind(6, items[i].added_at);
      insert.bind_blob(7, data + static_cast<int64_t>(i) * model_.dim, static_cast<std::size_t>(model_.dim) * sizeof(float));
      insert.step();
    }
    if (!offsets.empty()) {
      SqliteStatement o(*db_, "INSERT INTO cohort_offsets(id, offset) VALUES(?, ?)");
      for (std::size_t i = 0; i < items.size(); ++i) {
        o.reset();
        o.bind(1, ids[i]).bind_double(2, offsets[i]);
        o.step();
      }
    }
    t.commit();
  }
  if (on_step) on_step("committed");
  // An IVF index is trained on its first vectors; later additions never retrain it.
  if (options_.kind == AnnKind::Ivf && index_->ntotal == 0)
    index_ = make_index(options_, model_.dim, data, static_cast<int64_t>(items.size()));
  index_->add_with_ids(static_cast<int64_t>(items.size()), data, ids.data());
  for (std::size_t i = 0; i < items.size(); ++i) {
    ++identity_items_[items[i].identity];
    if (!offsets.empty()) offsets_[ids[i]] = offsets[i];
  }
  rows_ += static_cast<int64_t>(items.size());
  log_ += static_cast<int64_t>(items.size());
  maybe_snapshot();
  return std::vector<int64_t>(ids.begin(), ids.end());
}

int64_t GalleryIndex::remove_identity(const std::string& identity, std::vector<GalleryItem>* removed) {
  return remove_where("identity = ?", [&](SqliteStatement& s, int first) { s.bind(first, identity); }, removed);
}

int64_t GalleryIndex::remove_item(int64_t id, std::vector<GalleryItem>* removed) {
  return remove_where("id = ?", [&](SqliteStatement& s, int first) { s.bind(first, id); }, removed);
}

int64_t GalleryIndex::remove_where(const std::string& condition, const std::function<void(SqliteStatement&, int)>& bind,
                                   std::vector<GalleryItem>* removed) {
  if (mode_ != OpenMode::ReadWrite) throw Error(dir_.string() + ": opened read-only");
  std::unique_lock lock(mutex_);
  std::vector<GalleryItem> gone;
  {
    SqliteStatement s(*db_, "SELECT id, identity, domain, source, content_hash, added_at FROM items WHERE " + condition);
    bind(s, 1);
    while (s.step())
      gone.push_back({s.column_int(0), s.column_text(1), s.column_text(2), s.column_text(3), s.column_text(4), s.column_int(5)});
  }
  if (gone.empty()) return 0;
  {
    SqliteTransaction t(*db_);
    if (calibration_) {
      SqliteStatement o(*db_, "DELETE FROM cohort_offsets WHERE id IN (SELECT id FROM items WHERE " + condition + ")");
      bind(o, 1);
      o.step();
    }
    SqliteStatement del(*db_, "DELETE FROM items WHERE " + condition);
    bind(del, 1);
    del.step();
    t.commit();
  }
  if (on_step) on_step("committed");
  std::vector<int64_t> ids;
  for (const auto& g : gone) {
    ids.push_back(g.id);
    offsets_.erase(g.id);
    if (--identity_items_[g.identity] <= 0) identity_items_.erase(g.identity);
  }
  drop_from_structure(ids);
  rows_ -= static_cast<int64_t>(gone.size());
  log_ += static_cast<int64_t>(gone.size());
  maybe_snapshot();
  if (removed) *removed = gone;
  return static_cast<int64_t>(gone.size());
}

bool GalleryIndex::references(const std::string& source) const {
  std::shared_lock lock(mutex_);
  SqliteStatement s(*db_, "SELECT 1 FROM items WHERE source = ? LIMIT 1");
  s.bind(1, source);
  return s.step();
}

std::vector<std::vector<GalleryHit>> GalleryIndex::search(const torch::Tensor& queries, int64_t k) const {
  if (queries.dim() != 2 || queries.size(1) != model_.dim)
    throw Error("index search: queries must be [Q, " + std::to_string(model_.dim) + "]");
  const torch::Tensor q = unit_rows(queries);
  std::shared_lock lock(mutex_);
  const int64_t nq = q.size(0);
  // Hidden (removed) HNSW nodes are fetched and dropped.
  const int64_t kk = std::min<int64_t>(k + static_cast<int64_t>(hidden_.size()), index_->ntotal);
  std::vector<std::vector<GalleryHit>> out(static_cast<std::size_t>(nq));
  if (kk <= 0) return out;
  std::vector<float> sim(static_cast<std::size_t>(nq * kk));
  std::vector<faiss::Index::idx_t> ids(static_cast<std::size_t>(nq * kk));
  index_->search(nq, q.data_ptr<float>(), kk, sim.data(), ids.data());
  std::set<int64_t> wanted(ids.begin(), ids.end());
  wanted.erase(-1);
  std::map<int64_t, GalleryItem> items;
  {
    std::string list;
    for (int64_t id : wanted) list += (list.empty() ? "" : ",") + std::to_string(id);
    SqliteStatement s(*db_, "SELECT id, identity, domain, source, content_hash, added_at FROM items WHERE id IN (" + list + ")");
    while (s.step())
      items[s.column_int(0)] = GalleryItem{s.column_int(0), s.column_text(1), s.column_text(2), s.column_text(3),
                                           s.column_text(4), s.column_int(5)};
  }
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t t = 0; t < kk; ++t) {
      const int64_t id = ids[static_cast<std::size_t>(i * kk + t)];
      auto it = items.find(id);
      if (id < 0 || it == items.end() || hidden_.count(id)) continue;
      auto& row = out[static_cast<std::size_t>(i)];
      if (static_cast<int64_t>(row.size()) == k) break;
      const float s = sim[static_cast<std::size_t>(i * kk + t)];
      row.push_back({it->second, std::sqrt(std::max(0.0f, 2.0f - 2.0f * s))});
    }
  return out;
}

std::vector<GalleryItem> GalleryIndex::items(const std::vector<int64_t>& ids) const {
  std::shared_lock lock(mutex_);
  std::vector<GalleryItem> out;
  SqliteStatement s(*db_, "SELECT id, identity, domain, source, content_hash, added_at FROM items WHERE id = ?");
  for (int64_t id : ids) {
    s.reset();
    s.bind(1, id);
    if (s.step())
      out.push_back({s.column_int(0), s.column_text(1), s.column_text(2), s.column_text(3), s.column_text(4), s.column_int(5)});
  }
  return out;
}

torch::Tensor GalleryIndex::vectors(const std::vector<int64_t>& ids) const {
  std::shared_lock lock(mutex_);
  torch::Tensor out = torch::empty({static_cast<int64_t>(ids.size()), model_.dim});
  SqliteStatement s(*db_, "SELECT vector FROM items WHERE id = ?");
  for (std::size_t i = 0; i < ids.size(); ++i) {
    s.reset();
    s.bind(1, ids[i]);
    if (!s.step()) throw Error("index: no item " + std::to_string(ids[i]));
    const auto v = s.column_floats(0);
    std::copy(v.begin(), v.end(), out.data_ptr<float>() + static_cast<int64_t>(i) * model_.dim);
  }
  return out;
}

IndexStats GalleryIndex::stats() const {
  std::shared_lock lock(mutex_);
  IndexStats st;
  st.kind = options_.kind, st.generation = generation_, st.dim = model_.dim, st.log = log_;
  st.fingerprint = model_.fingerprint, st.preprocessing = model_.preprocessing;
  st.calibrated = calibration_ != nullptr;
  SqliteStatement s(*db_, "SELECT domain, COUNT(*) FROM items GROUP BY domain");
  while (s.step()) st.domains[s.column_text(0)] = s.column_int(1), st.items += s.column_int(1);
  SqliteStatement ids(*db_, "SELECT COUNT(DISTINCT identity) FROM items");
  if (ids.step()) st.identities = ids.column_int(0);
  return st;
}

std::vector<std::string> GalleryIndex::verify() const {
  std::shared_lock lock(mutex_);
  std::vector<std::string> problems;
  const auto rows = row_ids(*db_);
  auto vecs = faiss_ids(*index_);
  vecs.erase(std::remove_if(vecs.begin(), vecs.end(), [&](int64_t id) { return hidden_.count(id) > 0; }), vecs.end());
  std::vector<int64_t> only_rows, only_vecs;
  std::set_difference(rows.begin(), rows.end(), vecs.begin(), vecs.end(), std::back_inserter(only_rows));
  std::set_difference(vecs.begin(), vecs.end(), rows.begin(), rows.end(), std::back_inserter(only_vecs));
  if (!only_rows.empty()) problems.push_back(std::to_string(only_rows.size()) + " rows without a vector in the FAISS index");
  if (!only_vecs.empty()) problems.push_back(std::to_string(only_vecs.size()) + " vectors without a row");
  SqliteStatement s(*db_, "SELECT id, length(vector) FROM items WHERE length(vector) <> ?");
  s.bind(1, model_.dim * static_cast<int64_t>(sizeof(float)));
  while (s.step()) problems.push_back("item " + std::to_string(s.column_int(0)) + ": stored vector of " +
                                      std::to_string(s.column_int(1)) + " bytes");
  // The search structure's vectors against the stored ones (IVF lists need a direct map
  // to give vectors back by id, a hash table as the ids are the items' own: checked
  // through a copy).
  {
    std::unique_ptr<faiss::Index> copy;
    const faiss::Index* structure = index_.get();
    if (const auto* ivf = dynamic_cast<const faiss::IndexIVF*>(index_.get())) {
      copy.reset(faiss::clone_index(ivf));
      dynamic_cast<faiss::IndexIVF*>(copy.get())->set_direct_map_type(faiss::DirectMap::Hashtable);
      structure = copy.get();
    }
    std::vector<float> got(static_cast<std::size_t>(model_.dim));
    int64_t differ = 0, first = -1;
    SqliteStatement all(*db_, "SELECT id, vector FROM items ORDER BY id");
    std::set<int64_t> present(vecs.begin(), vecs.end());
    while (all.step()) {
      const int64_t id = all.column_int(0);
      if (!present.count(id)) continue;
      const std::vector<float> want = all.column_floats(1);
      if (static_cast<int64_t>(want.size()) != model_.dim) continue;
      try {
        structure->reconstruct(id, got.data());
      } catch (const std::exception&) {
        ++differ;
        continue;
      }
      for (int64_t k = 0; k < model_.dim; ++k)
        if (std::abs(got[static_cast<std::size_t>(k)] - want[static_cast<std::size_t>(k)]) > 1e-5f) {
          if (differ++ == 0) first = id;
          break;
        }
    }
    if (differ > 0)
      problems.push_back(std::to_string(differ) + " vectors of the search structure differ from the stored ones (first: item " +
                         std::to_string(first) + ")");
  }
  if (!fs::exists(faiss_file(generation_))) {
    if (has_meta(*db_, "snapshot_checksum")) problems.push_back(faiss_file(generation_).string() + " is missing");
  } else if (has_meta(*db_, "snapshot_checksum") && file_checksum(faiss_file(generation_)) != meta(*db_, "snapshot_checksum")) {
    problems.push_back(faiss_file(generation_).string() + " fails its checksum (damaged on disk)");
  }
  SqliteStatement check(*db_, "PRAGMA integrity_check");
  if (check.step() && check.column_text(0) != "ok") problems.push_back("SQLite integrity check: " + check.column_text(0));
  return problems;
}

}  // namespace toonreid
