// The gallery index: add / remove / search consistency for every kind, the crash between
// the FAISS write and the SQLite commit, repairs on open, and model-fingerprint checks.
#include <gtest/gtest.h>

#include <filesystem>

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

}  // namespace
}  // namespace toonreid
