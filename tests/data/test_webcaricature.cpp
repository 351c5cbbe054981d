#include "data/webcaricature.h"

#include <gtest/gtest.h>

#include <chrono>

#include "core/error.h"
#include "data/dataset.h"
#include "test_util.h"

namespace toonreid {
namespace {

using testing::TempDir;
using testing::write_text;

// Builds a small WebCaricature-layout tree; image files only need to exist for the scan.
void make_layout(const std::filesystem::path& root, const std::string& image_dir = "images") {
  for (const char* id : {"Alice", "Bob", "Carol"})
    for (const char* f : {"P00001.jpg", "P00002.jpg", "C00001.jpg"}) write_text(root / image_dir / id / f, "x");
  write_text(root / image_dir / "Bob" / "C00002.png", "x");
  write_text(root / image_dir / "Bob" / "notes.txt", "not an image");
  write_text(root / image_dir / "Bob" / "landmarks.jpg", "not a P or C file");
  write_text(root / "splits/train.txt", "Alice\nBob\n");
  write_text(root / "splits/test.txt", "# held-out identities\nCarol\r\n\n");
}

bool has_warning(const Dataset& d, const std::string& part) {
  for (const auto& w : d.warnings())
    if (w.find(part) != std::string::npos) return true;
  return false;
}

TEST(WebCaricature, ReadsIdentitiesDomainsAndSplits) {
  TempDir dir;
  make_layout(dir.path());
  Dataset d = load_webcaricature(dir.path());
  ASSERT_EQ(d.size(), 10u);
  EXPECT_EQ(d.identities(), (std::vector<std::string>{"Alice", "Bob", "Carol"}));
  auto stats = compute_stats(d);
  ASSERT_EQ(stats.size(), 2u);
  const auto& train = stats[0].split == "train" ? stats[0] : stats[1];
  const auto& test = stats[0].split == "test" ? stats[0] : stats[1];
  EXPECT_EQ(train.identities, 2u);
  EXPECT_EQ(train.photos, 4u);
  EXPECT_EQ(train.cartoons, 3u);
  EXPECT_EQ(test.identities, 1u);
  EXPECT_EQ(test.photos, 2u);
  EXPECT_EQ(test.cartoons, 1u);
  EXPECT_EQ(d.split("test").size(), 3u);
  EXPECT_EQ(d.domain(Domain::Cartoon).size(), 4u);
  EXPECT_TRUE(d.warnings().empty());
  // Records are sorted: stable order for sampling and labels.
  EXPECT_EQ(d[0].path.filename(), "C00001.jpg");
  EXPECT_EQ(d[0].domain, Domain::Cartoon);
  EXPECT_EQ(d[1].domain, Domain::Photo);
}

TEST(WebCaricature, AcceptsOriginalImagesFolderName) {
  TempDir dir;
  make_layout(dir.path(), "OriginalImages");
  EXPECT_EQ(load_webcaricature(dir.path()).size(), 10u);
}

TEST(WebCaricature, SplitNamingUnknownIdentityIsAnError) {
  TempDir dir;
  make_layout(dir.path());
  write_text(dir / "splits/test.txt", "Carol\nDaniel\n");
  try {
    load_webcaricature(dir.path());
    FAIL();
  } catch (const DataError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("Daniel"), std::string::npos) << msg;
    EXPECT_NE(msg.find("test.txt:2"), std::string::npos) << msg;
  }
}

TEST(WebCaricature, IdentityInTwoSplitsIsAnError) {
  TempDir dir;
  make_layout(dir.path());
  write_text(dir / "splits/test.txt", "Carol\nAlice\n");
  EXPECT_THROW(load_webcaricature(dir.path()), DataError);
}

TEST(WebCaricature, EmptyIdentityFoldersAndUnassignedIdentitiesWarn) {
  TempDir dir;
  make_layout(dir.path());
  std::filesystem::create_directories(dir / "images/Empty");
  write_text(dir / "images/Dave/P00001.jpg", "x");
  write_text(dir / "images/Alice/nested/P00009.jpg", "x");
  Dataset d = load_webcaricature(dir.path());
  EXPECT_EQ(d.size(), 11u);
  EXPECT_TRUE(has_warning(d, "Empty"));
  EXPECT_TRUE(has_warning(d, "Dave"));
  EXPECT_TRUE(has_warning(d, "nested"));
  auto stats = compute_stats(d);
  bool found_unassigned = false;
  for (const auto& s : stats)
    if (s.split.empty()) {
      found_unassigned = true;
      EXPECT_EQ(s.photo_only, (std::vector<std::string>{"Dave"}));
    }
  EXPECT_TRUE(found_unassigned);
}

TEST(WebCaricature, MissingFoldersAndNoImagesAreErrors) {
  TempDir dir;
  EXPECT_THROW(load_webcaricature(dir / "nope"), DataError);
  EXPECT_THROW(load_webcaricature(dir.path()), DataError);  // no images/ folder
  std::filesystem::create_directories(dir / "images/Alice");
  try {
    load_webcaricature(dir.path());
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("no images"), std::string::npos);
  }
}

TEST(WebCaricature, WithoutSplitFilesEverythingIsUnassigned) {
  TempDir dir;
  make_layout(dir.path());
  std::filesystem::remove_all(dir / "splits");
  Dataset d = load_webcaricature(dir.path());
  EXPECT_EQ(d.splits(), (std::vector<std::string>{""}));
  EXPECT_TRUE(has_warning(d, "no split files"));
  EXPECT_THROW(d.split("train"), DataError);
}

TEST(WebCaricature, OpenDatasetDispatchesOnFolderOrFile) {
  TempDir dir;
  make_layout(dir.path());
  EXPECT_EQ(open_dataset(dir.path()).size(), 10u);
  EXPECT_THROW(open_dataset(dir / "missing"), DataError);
}

// The real CaVI copy, when ../shared has it: the scan must be quick and complete.
TEST(WebCaricature, RealCaviCopy) {
  auto root = testing::cavi_root();
  if (!std::filesystem::exists(root / "images")) GTEST_SKIP() << "no CaVI copy at " << root;
  auto start = std::chrono::steady_clock::now();
  Dataset d = load_webcaricature(root);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(d.identities().size(), 202u);
  EXPECT_EQ(d.domain(Domain::Photo).size(), 6521u);
  EXPECT_EQ(d.domain(Domain::Cartoon).size(), 4770u);
  EXPECT_EQ(make_labels(d.split("train")).names.size(), 102u);
  EXPECT_EQ(make_labels(d.split("test")).names.size(), 100u);
  EXPECT_LT(seconds, 10.0) << "scanning 11k files must take seconds";
}

}  // namespace
}  // namespace toonreid
