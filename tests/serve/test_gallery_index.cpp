// The gallery index: add / remove / search consistency for every kind, the crash between
// the FAISS write and the SQLite commit, repairs on open, and model-fingerprint checks.
#include <gtest/gtest.h>

#include <filesystem>

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

class GalleryIndexKinds : public ::testing::TestWithParam<IndexKind> {};

TEST_P(GalleryIndexKinds, AddRemoveSearchStayConsistent) {
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

INSTANTIATE_TEST_SUITE_P(Kinds, GalleryIndexKinds, ::testing::Values(IndexKind::Flat, IndexKind::Ivf, IndexKind::Hnsw));

struct Crash : std::runtime_error {
  Crash() : std::runtime_error("injected crash") {}
};

TEST(GalleryIndex, CrashBetweenTheFaissWriteAndTheCommitLeavesTheLastCommittedState) {
  torch::manual_seed(4);
  testing::TempDir dir;
  GalleryIndex::create(dir / "g", model_of(8), {});
  {
    GalleryIndex index(dir / "g");
    index.add(items("A", 5), vectors_near(0, 5, 8));
    index.on_step = [](const std::string& step) {
      if (step == "faiss written") throw Crash();
    };
    EXPECT_THROW(index.add(items("B", 7), vectors_near(1, 7, 8)), Crash);
    EXPECT_THROW(index.remove_identity("A"), Crash);
    // The object itself went back to its committed state.
    EXPECT_EQ(index.stats().items, 5);
    EXPECT_TRUE(index.verify().empty());
  }
  // A process that died there: a new generation's FAISS file without the rows.
  GalleryIndex reopened(dir / "g");
  EXPECT_EQ(reopened.stats().items, 5);
  EXPECT_TRUE(reopened.verify().empty());
  EXPECT_EQ(reopened.search(vectors_near(1, 1, 8), 10)[0].size(), 5u);  // no B anywhere
  // After the commit, before the old file is deleted: the new state, the old file retired.
  reopened.on_step = [](const std::string& step) {
    if (step == "committed") throw Crash();
  };
  EXPECT_THROW(reopened.add(items("C", 3), vectors_near(2, 3, 8)), Crash);
  GalleryIndex after(dir / "g");
  EXPECT_EQ(after.stats().items, 8);
  EXPECT_TRUE(after.verify().empty());
  int faiss_files = 0;
  for (const auto& e : fs::directory_iterator(dir / "g")) faiss_files += e.path().extension() == ".faiss";
  EXPECT_EQ(faiss_files, 1);
}

TEST(GalleryIndex, OpeningRepairsAMissingOrDisagreeingFaissFile) {
  torch::manual_seed(5);
  testing::TempDir dir;
  GalleryIndex::create(dir / "g", model_of(8), {});
  { GalleryIndex(dir / "g").add(items("A", 4), vectors_near(0, 4, 8)); }
  for (const auto& e : fs::directory_iterator(dir / "g"))
    if (e.path().extension() == ".faiss") fs::remove(e.path());
  GalleryIndex index(dir / "g");
  ASSERT_EQ(index.repairs().size(), 1u);
  EXPECT_NE(index.repairs()[0].find("rebuilt from the stored vectors"), std::string::npos) << index.repairs()[0];
  EXPECT_EQ(index.search(vectors_near(0, 1, 8), 10)[0].size(), 4u);
  EXPECT_TRUE(index.verify().empty());
  // A row added behind the index's back (a vector without a row is the mirror case).
  {
    SqliteDb db(dir / "g" / "gallery.sqlite");
    std::vector<float> v(8, 0.0f);
    v[3] = 1;
    SqliteStatement s(db, "INSERT INTO items(identity, domain, source, content_hash, added_at, vector) VALUES('X', 'photo', 's', 'h', 0, ?)");
    s.bind_blob(1, v.data(), v.size() * sizeof(float)).step();
  }
  GalleryIndex repaired(dir / "g");
  ASSERT_EQ(repaired.repairs().size(), 1u);
  EXPECT_NE(repaired.repairs()[0].find("5 rows"), std::string::npos) << repaired.repairs()[0];
  EXPECT_EQ(repaired.stats().items, 5);
  EXPECT_TRUE(repaired.verify().empty());
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
  EXPECT_THROW(parse_index_kind("lsh"), Error);
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
  // Kept across a reopen.
  GalleryIndex again(dir / "g");
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
  GalleryIndex reopened(dir / "g");
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
