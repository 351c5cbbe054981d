// The gallery index: add / remove / search consistency for every kind, the crash between
// the FAISS write and the SQLite commit, repairs on open, and model-fingerprint checks.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include <torch/torch.h>

#include "core/error.h"
#include "serve/gallery_index.h"
#include "serve/gallery_search.h"
#include "serve/sqlite_db.h"
#include "test_util.h"

namespace toonreid {
namespace {

namespace fs = std::filesystem;

IndexModel model_of(int64_t dim) { return {"fp-1", "run:\n  seed: 0\n", "", "test vectors", dim}; }

std::vector<GalleryItem> items(const std::string& identity, int n) {
  std::vector<GalleryItem> out;
  for (int i = 0; i < n; ++i) out.push_back({0, identity, "photo", "/img/" + identity + "_" + std::to_string(i) + ".jpg", "h", 0});
  return out;
}

// Identity c's vectors: around the c-th basis direction.
torch::Tensor vectors_near(int64_t c, int n, int64_t dim) {
  torch::Tensor v = 0.05 * torch::randn({n, dim});
  v.select(1, c) += 1.0;
  return v;
}

class GalleryAnnKinds : public ::testing::TestWithParam<AnnKind> {};

TEST_P(GalleryAnnKinds, AddRemoveSearchStayConsistent) {
  torch::manual_seed(3);
  testing::TempDir dir;
  IndexOptions o;
  o.kind = GetParam();
  o.ivf_lists = 4;
  o.ivf_probe = 4;
  GalleryIndex::create(dir / "g", model_of(16), o);
  {
    GalleryIndex index(dir / "g");
    for (int c = 0; c < 6; ++c) index.add(items("Person_" + std::to_string(c), 40), vectors_near(c, 40, 16));
    EXPECT_EQ(index.stats().items, 240);
    EXPECT_EQ(index.stats().identities, 6);
    const auto hits = index.search(vectors_near(2, 1, 16), 5);
    ASSERT_EQ(hits[0].size(), 5u);
    for (const auto& h : hits[0]) EXPECT_EQ(h.item.identity, "Person_2");
    EXPECT_LT(hits[0][0].distance, hits[0][4].distance + 1e-6);
    EXPECT_EQ(index.remove_identity("Person_2"), 40);
    EXPECT_EQ(index.remove_item(1), 1);  // Person_0's first image
    EXPECT_EQ(index.remove_item(1), 0);
    EXPECT_TRUE(index.verify().empty());
    const auto after = index.search(vectors_near(2, 1, 16), 10);
    for (const auto& h : after[0]) EXPECT_NE(h.item.identity, "Person_2");
  }
  GalleryIndex again(dir / "g");  // reopened: the same state, nothing to repair
  EXPECT_TRUE(again.repairs().empty());
  EXPECT_EQ(again.stats().items, 199);
  SearchOptions by_identity;
  by_identity.top_k = 3;
  const auto r = search_embeddings(again, vectors_near(4, 1, 16), {"q"}, by_identity);
  ASSERT_EQ(r[0].hits.size(), 3u);
  EXPECT_EQ(r[0].hits[0].item.identity, "Person_4");
  EXPECT_NE(r[0].hits[1].item.identity, r[0].hits[2].item.identity);  // one row per identity
  by_identity.rerank = true;
  EXPECT_EQ(search_embeddings(again, vectors_near(4, 1, 16), {"q"}, by_identity)[0].hits[0].item.identity, "Person_4");
}

INSTANTIATE_TEST_SUITE_P(Kinds, GalleryAnnKinds, ::testing::Values(AnnKind::Exact, AnnKind::Ivf, AnnKind::Hnsw));

struct Crash : std::runtime_error {
  Crash() : std::runtime_error("injected crash") {}
};

std::vector<fs::path> faiss_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".faiss") out.push_back(e.path());
  return out;
}

// SQLite is the log: a change is acknowledged once its rows are committed, and the
// snapshot is rewritten only when the log has grown. A crash at any step reopens with
// every committed change.
TEST(GalleryIndex, CrashAtEveryWriteStepKeepsEveryCommittedChange) {
  torch::manual_seed(4);
  testing::TempDir dir;
  GalleryIndex::create(dir / "g", model_of(8), {});
  SnapshotPolicy every_change;  // a snapshot after every change: every step is reached
  every_change.min_log = 0;
  every_change.fraction = 0;
  {
    GalleryIndex index(dir / "g", OpenMode::ReadWrite, every_change);
    index.add(items("A", 5), vectors_near(0, 5, 8));
    ASSERT_EQ(faiss_files(dir / "g").size(), 1u);
    // Killed after the rows were committed, before the snapshot: the rows count.
    index.on_step = [](const std::string& step) {
      if (step == "committed") throw Crash();
    };
    EXPECT_THROW(index.add(items("B", 7), vectors_near(1, 7, 8)), Crash);
  }
  {
    GalleryIndex reopened(dir / "g", OpenMode::ReadWrite, every_change);
    EXPECT_TRUE(reopened.repairs().empty());
    EXPECT_EQ(reopened.stats().items, 12);
    EXPECT_EQ(reopened.stats().log, 7);  // replayed from the rows
    EXPECT_EQ(reopened.search(vectors_near(1, 1, 8), 7)[0].size(), 7u);
    EXPECT_TRUE(reopened.verify().empty());
    // Killed with the new snapshot in place but its generation not committed.
    reopened.on_step = [](const std::string& step) {
      if (step == "snapshot written") throw Crash();
    };
    EXPECT_THROW(reopened.remove_identity("A"), Crash);
  }
  EXPECT_EQ(faiss_files(dir / "g").size(), 2u);
  {
    GalleryIndex again(dir / "g", OpenMode::ReadWrite, every_change);
    EXPECT_EQ(again.stats().items, 7);  // the removal was committed
    EXPECT_TRUE(again.verify().empty());
    EXPECT_EQ(faiss_files(dir / "g").size(), 1u);  // the uncommitted snapshot is gone
    // Killed after the snapshot's commit, before the old file is deleted.
    again.on_step = [](const std::string& step) {
      if (step == "snapshot committed") throw Crash();
    };
    EXPECT_THROW(again.add(items("C", 3), vectors_near(2, 3, 8)), Crash);
  }
  GalleryIndex after(dir / "g");
  EXPECT_EQ(after.stats().items, 10);
  EXPECT_EQ(after.stats().log, 0);
  EXPECT_TRUE(after.verify().empty());
  EXPECT_EQ(faiss_files(dir / "g").size(), 1u);
}

TEST(GalleryIndex, AnEnrolmentWritesItsRowsNotTheSnapshot) {
  torch::manual_seed(7);
  testing::TempDir dir;
  GalleryIndex::create(dir / "g", model_of(16), {});
  {
    GalleryIndex index(dir / "g");
    for (int c = 0; c < 4; ++c) index.add(items("P" + std::to_string(c), 50), vectors_near(c, 50, 16));
    index.snapshot();
  }
  const auto snapshot = faiss_files(dir / "g");
  ASSERT_EQ(snapshot.size(), 1u);
  const auto written = fs::last_write_time(snapshot[0]);
  {
    GalleryIndex index(dir / "g");
    const int64_t generation = index.stats().generation;
    for (int i = 0; i < 20; ++i) index.add(items("New", 1), vectors_near(5, 1, 16));
    index.remove_item(3);
    EXPECT_EQ(index.stats().generation, generation);  // no snapshot for 21 changes of 200 items
    EXPECT_EQ(index.stats().log, 21);
    EXPECT_EQ(faiss_files(dir / "g"), snapshot);
    EXPECT_EQ(fs::last_write_time(snapshot[0]), written);
    EXPECT_EQ(index.search(vectors_near(5, 1, 16), 25)[0].size(), 25u);
  }
  GalleryIndex reopened(dir / "g");  // replays the 21 changes
  EXPECT_EQ(reopened.stats().items, 219);
  EXPECT_EQ(reopened.items({3}).size(), 0u);
  EXPECT_TRUE(reopened.repairs().empty());
  EXPECT_TRUE(reopened.verify().empty());
}

TEST(GalleryIndex, OneWriterAtATimeAndReadersWriteNothing) {
  torch::manual_seed(8);
  testing::TempDir dir;
  GalleryIndex::create(dir / "g", model_of(8), {});
  GalleryIndex writer(dir / "g");
  writer.add(items("A", 3), vectors_near(0, 3, 8));
  try {
    GalleryIndex second(dir / "g");
    FAIL() << "two writers";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("another process is changing this index"), std::string::npos) << e.what();
  }
  // A reader beside the writer: sees the committed rows, writes and deletes nothing.
  std::map<std::string, fs::file_time_type> before;
  for (const auto& e : fs::directory_iterator(dir / "g"))
    if (e.path().extension() != ".sqlite-shm" && e.path().extension() != ".sqlite-wal") before[e.path().filename().string()] = e.last_write_time();
  GalleryIndex reader(dir / "g", OpenMode::ReadOnly);
  EXPECT_EQ(reader.stats().items, 3);
  EXPECT_EQ(reader.search(vectors_near(0, 1, 8), 3)[0].size(), 3u);
  EXPECT_TRUE(reader.verify().empty());  // no snapshot yet: the rows are the whole log
  EXPECT_THROW(reader.add(items("B", 1), vectors_near(1, 1, 8)), Error);
  EXPECT_THROW(reader.remove_identity("A"), Error);
  std::map<std::string, fs::file_time_type> after;
  for (const auto& e : fs::directory_iterator(dir / "g"))
    if (e.path().extension() != ".sqlite-shm" && e.path().extension() != ".sqlite-wal") after[e.path().filename().string()] = e.last_write_time();
  EXPECT_EQ(before, after);
  writer.add(items("B", 2), vectors_near(1, 2, 8));  // the writer goes on undisturbed
  EXPECT_EQ(writer.stats().items, 5);
}

TEST(GalleryIndex, AnUnreadableOrDamagedSnapshotIsRebuiltFromTheRows) {
  torch::manual_seed(5);
  testing::TempDir dir;
  GalleryIndex::create(dir / "g", model_of(8), {});
  {
    GalleryIndex index(dir / "g");
    index.add(items("A", 4), vectors_near(0, 4, 8));
    index.snapshot();
  }
  const fs::path file = faiss_files(dir / "g").at(0);
  const std::string good = testing::read_text(file);
  for (const std::string& damage : {std::string(), good.substr(0, good.size() / 2), std::string("not a FAISS file at all")}) {
    testing::write_text(file, damage);
    GalleryIndex reader(dir / "g", OpenMode::ReadOnly);  // rebuilt in memory only
    ASSERT_EQ(reader.repairs().size(), 1u);
    EXPECT_NE(reader.repairs()[0].find("rebuilt from the stored vectors"), std::string::npos) << reader.repairs()[0];
    EXPECT_EQ(reader.search(vectors_near(0, 1, 8), 10)[0].size(), 4u);
    EXPECT_FALSE(reader.verify().empty());  // the file on disk is still bad
    EXPECT_EQ(testing::read_text(file), damage);
  }
  // Vector bytes overwritten in place: the file still reads, its checksum does not match.
  std::string flipped = good;
  flipped[flipped.size() - 100] ^= 0x55;  // inside the last vectors (the id map follows them)
  testing::write_text(file, flipped);
  GalleryIndex repaired(dir / "g");
  ASSERT_EQ(repaired.repairs().size(), 1u) << "a damaged snapshot was loaded";
  EXPECT_NE(repaired.repairs()[0].find("damaged"), std::string::npos) << repaired.repairs()[0];
  EXPECT_TRUE(repaired.verify().empty());  // a writer repairs: a new snapshot
  // A vector that differs from its stored row is found by verify.
  {
    SqliteDb db(dir / "g" / "gallery.sqlite");
    std::vector<float> v(8, 0.0f);
    v[5] = 1;
    SqliteStatement s(db, "UPDATE items SET vector = ? WHERE id = 2");
    s.bind_blob(1, v.data(), v.size() * sizeof(float)).step();
  }
  GalleryIndex reader(dir / "g", OpenMode::ReadOnly);
  const auto problems = reader.verify();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("differ from the stored ones"), std::string::npos) << problems[0];
  // Missing altogether after a snapshot was made: a repair too.
  for (const auto& f : faiss_files(dir / "g")) fs::remove(f);  // the repair wrote a new one
  GalleryIndex again(dir / "g", OpenMode::ReadOnly);
  EXPECT_EQ(again.repairs().size(), 1u);
}

TEST(GalleryIndex, HnswRemovalsAreHiddenUntilTheNextSnapshot) {
  torch::manual_seed(9);
  testing::TempDir dir;
  IndexOptions o;
  o.kind = AnnKind::Hnsw;
  GalleryIndex::create(dir / "g", model_of(16), o);
  {
    GalleryIndex index(dir / "g");
    for (int c = 0; c < 3; ++c) index.add(items("P" + std::to_string(c), 20), vectors_near(c, 20, 16));
    index.snapshot();
    EXPECT_EQ(index.remove_identity("P1"), 20);
    const auto hits = index.search(vectors_near(1, 1, 16), 30);  // (a range over [0] of a temporary would dangle)
    for (const auto& h : hits[0]) EXPECT_NE(h.item.identity, "P1");
    EXPECT_EQ(index.search(vectors_near(1, 1, 16), 30)[0].size(), 30u);
    EXPECT_TRUE(index.verify().empty());
  }
  GalleryIndex reopened(dir / "g");
  EXPECT_EQ(reopened.stats().items, 40);
  const auto hits = reopened.search(vectors_near(1, 1, 16), 40);
  for (const auto& h : hits[0]) EXPECT_NE(h.item.identity, "P1");
  reopened.snapshot();  // the graph rebuilt without them
  EXPECT_TRUE(reopened.verify().empty());
  EXPECT_EQ(reopened.stats().log, 0);
}

TEST(GalleryIndex, BadInputIsRefusedByName) {
  testing::TempDir dir;
  EXPECT_THROW(GalleryIndex(dir / "nothing"), Error);
  GalleryIndex::create(dir / "g", model_of(8), {});
  EXPECT_THROW(GalleryIndex::create(dir / "g", model_of(8), {}), Error);  // not empty
  GalleryIndex index(dir / "g");
  EXPECT_THROW(index.add(items("A", 2), torch::randn({2, 7})), Error);  // wrong size
  torch::Tensor nan = torch::randn({1, 8});
  nan[0][0] = std::nanf("");
  EXPECT_THROW(index.add(items("A", 1), nan), Error);
  EXPECT_EQ(index.stats().items, 0);
  EXPECT_TRUE(index.search(torch::randn({2, 8}), 5)[0].empty());
  EXPECT_THROW(parse_ann_kind("lsh"), Error);
}

// A calibration for model_of(16): plain distances of the best image, or snorm against a
// small cohort; the non-mated model rests on scores around 1.3 (far from every identity).
Calibration calibration_of(ScoreNormalization n) {
  Calibration c;
  c.fingerprint = "fp-1";
  c.score.normalization = n;
  c.score.cohort_top_k = 2;
  torch::manual_seed(11);
  c.cohort.photo = torch::nn::functional::normalize(torch::randn({6, 16}), torch::nn::functional::NormalizeFuncOptions().dim(1));
  c.cohort.cartoon = torch::nn::functional::normalize(torch::randn({5, 16}), torch::nn::functional::NormalizeFuncOptions().dim(1));
  DirectionCalibration d;
  d.queries = 3;
  d.identities = 4;
  d.identification = NonMatedModel({{1.2f, 1.3f, 1.4f}, {1.25f, 1.35f, 1.45f}, {1.1f, 1.3f, 1.5f}});
  c.directions.push_back(d);
  return c;
}

TEST(GalleryIndex, CalibratedDecisionsMatchOrUnknownAtTheFpirsThreshold) {
  torch::manual_seed(5);
  testing::TempDir dir;
  GalleryIndex::create(dir / "g", model_of(16), {});
  GalleryIndex index(dir / "g");
  for (int c = 0; c < 6; ++c) index.add(items("Person_" + std::to_string(c), 4), vectors_near(c, 4, 16));
  SearchOptions o;
  o.top_k = 3;
  // Uncalibrated: the top-k, no decision; an explicit threshold decides without an FPIR.
  auto r = search_embeddings(index, vectors_near(2, 1, 16), {"q"}, o);
  EXPECT_EQ(r[0].decision.kind, Decision::Kind::Uncalibrated);
  EXPECT_EQ(r[0].decision.identity, "Person_2");
  o.threshold = 0.5;
  r = search_embeddings(index, vectors_near(2, 1, 16), {"q"}, o);
  EXPECT_EQ(r[0].decision.kind, Decision::Kind::Match);
  EXPECT_TRUE(std::isnan(r[0].decision.fpir));
  o.threshold.reset();

  const Calibration cal = calibration_of(ScoreNormalization::None);
  index.set_calibration(cal);
  const double t = cal.direction(Domain::Photo).identification.threshold(0.01, 6);  // 6 identities enrolled
  EXPECT_DOUBLE_EQ(index.threshold_for(0.01, Domain::Photo), t);
  r = search_embeddings(index, torch::cat({vectors_near(2, 1, 16), vectors_near(10, 1, 16)}), {"known", "stranger"}, o);
  EXPECT_EQ(r[0].decision.kind, Decision::Kind::Match);
  EXPECT_EQ(r[0].decision.identity, "Person_2");
  EXPECT_DOUBLE_EQ(r[0].decision.threshold, t);
  EXPECT_DOUBLE_EQ(r[0].decision.fpir, 0.01);
  EXPECT_LT(r[0].decision.score, t);
  EXPECT_EQ(r[1].decision.kind, Decision::Kind::Unknown);  // about sqrt(2) from everyone
  EXPECT_GE(r[1].decision.score, t);
  // The threshold follows the number of identities: fewer enrolled, a higher threshold.
  index.remove_identity("Person_5");
  index.remove_identity("Person_4");
  EXPECT_DOUBLE_EQ(index.threshold_for(0.01, Domain::Photo), cal.direction(Domain::Photo).identification.threshold(0.01, 4));
  EXPECT_GE(index.threshold_for(0.01, Domain::Photo), t);
  // Kept across a reopen (read-only beside the writer).
  GalleryIndex again(dir / "g", OpenMode::ReadOnly);
  ASSERT_NE(again.calibration(), nullptr);
  EXPECT_TRUE(again.stats().calibrated);
  EXPECT_TRUE(again.repairs().empty());
}

TEST(GalleryIndex, SnormOffsetsAreStoredWithEveryItemAndScoreTheSearch) {
  torch::manual_seed(6);
  testing::TempDir dir;
  GalleryIndex::create(dir / "g", model_of(16), {});
  const Calibration cal = calibration_of(ScoreNormalization::SNorm);
  torch::Tensor first = vectors_near(1, 3, 16), later = vectors_near(3, 2, 16);
  {
    GalleryIndex index(dir / "g");
    index.add(items("Person_1", 3), first);
    index.set_calibration(cal);  // offsets of the items already there
    index.add(items("Person_3", 2), later);  // and of those added after
  }
  GalleryIndex index(dir / "g");
  const auto unit = [](const torch::Tensor& v) { return v / v.norm(2, 1, true); };
  // A photo's offset: its closeness to the cartoon cohort (the queries' domain).
  const CohortStats a = cohort_stats(unit(first), cal.cohort.cartoon, 2), b = cohort_stats(unit(later), cal.cohort.cartoon, 2);
  const std::vector<float> offsets = index.cohort_offsets({1, 2, 3, 4, 5});
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(offsets[static_cast<std::size_t>(i)], a.mean[i].item<float>(), 1e-5);
  for (int i = 0; i < 2; ++i) EXPECT_NEAR(offsets[static_cast<std::size_t>(3 + i)], b.mean[i].item<float>(), 1e-5);
  // The search's image score: d - (c(q, photos) + offset) / 2.
  const torch::Tensor q = vectors_near(3, 1, 16);
  SearchOptions o;
  o.by_identity = false;
  o.top_k = 5;
  const auto r = search_embeddings(index, q, {"q"}, o);
  const float cq = cohort_stats(unit(q), cal.cohort.photo, 2).mean[0].item<float>();
  ASSERT_EQ(r[0].hits.size(), 5u);
  for (const auto& h : r[0].hits)
    EXPECT_NEAR(h.score, h.distance - 0.5f * (cq + index.cohort_offsets({h.item.id})[0]), 1e-5) << h.item.id;
  EXPECT_EQ(r[0].hits[0].item.identity, "Person_3");
  // Removal takes the offsets along.
  index.remove_identity("Person_1");
  EXPECT_EQ(index.cohort_offsets({1})[0], 0.0f);
  GalleryIndex reopened(dir / "g", OpenMode::ReadOnly);
  EXPECT_TRUE(reopened.repairs().empty());
  EXPECT_NEAR(reopened.cohort_offsets({4})[0], b.mean[0].item<float>(), 1e-5);
}

TEST(GalleryIndex, ACalibrationOfAnotherModelOrDomainIsRefused) {
  testing::TempDir dir;
  GalleryIndex::create(dir / "g", model_of(16), {});
  GalleryIndex index(dir / "g");
  Calibration other = calibration_of(ScoreNormalization::None);
  other.fingerprint = "fp-2";
  EXPECT_THROW(index.set_calibration(other), Error);
  std::vector<GalleryItem> cartoons = items("Toon", 2);
  for (auto& c : cartoons) c.domain = "cartoon";
  index.add(cartoons, vectors_near(0, 2, 16));
  EXPECT_THROW(index.set_calibration(calibration_of(ScoreNormalization::None)), Error);  // no direction for a cartoon gallery
  EXPECT_EQ(index.calibration(), nullptr);
  EXPECT_THROW(index.threshold_for(0.01, Domain::Photo), Error);
}

}  // namespace
}  // namespace toonreid
