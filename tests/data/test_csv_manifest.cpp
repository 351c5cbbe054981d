#include "data/csv_manifest.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "test_util.h"

namespace toonreid {
namespace {

using testing::TempDir;
using testing::write_text;

std::string error_of(const std::filesystem::path& manifest) {
  try {
    load_csv_manifest(manifest);
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

TEST(CsvManifest, ParsesRowsAndResolvesRelativePaths) {
  TempDir dir;
  write_text(dir / "data/img/a1.jpg", "x");
  write_text(dir / "data/img/a, 2.jpg", "x");
  write_text(dir / "abs.png", "x");
  write_text(dir / "data/list.csv",
             "identity,path,domain,split,extra\n"
             "Alice,img/a1.jpg,photo,train,1\n"
             "\"Smith, Alice\",\"img/a, 2.jpg\",cartoon,test,\n"
             "# a comment\n\n"
             "Bob," + (dir / "abs.png").string() + ",C,train,\n");
  Dataset d = load_csv_manifest(dir / "data/list.csv");
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].path, dir / "data/img/a1.jpg");
  EXPECT_EQ(d[0].domain, Domain::Photo);
  EXPECT_EQ(d[1].identity, "Smith, Alice");
  EXPECT_EQ(d[1].domain, Domain::Cartoon);
  EXPECT_EQ(d[1].split, "test");
  EXPECT_EQ(d[2].path, dir / "abs.png");
  EXPECT_EQ(d[2].domain, Domain::Cartoon);
}

TEST(CsvManifest, SplitColumnIsOptional) {
  TempDir dir;
  write_text(dir / "a.jpg", "x");
  write_text(dir / "m.csv", "path,identity,domain\na.jpg,A,photo\n");
  Dataset d = load_csv_manifest(dir / "m.csv");
  EXPECT_EQ(d[0].split, "");
}

TEST(CsvManifest, ErrorsNameFileLineAndCulprit) {
  TempDir dir;
  write_text(dir / "a.jpg", "x");
  write_text(dir / "nocol.csv", "path,identity\na.jpg,A\n");
  EXPECT_NE(error_of(dir / "nocol.csv").find("lacks column 'domain'"), std::string::npos);
  write_text(dir / "dom.csv", "path,identity,domain\na.jpg,A,photo\na.jpg,A,sketch\n");
  std::string e = error_of(dir / "dom.csv");
  EXPECT_NE(e.find("dom.csv:3"), std::string::npos) << e;
  EXPECT_NE(e.find("sketch"), std::string::npos) << e;
  write_text(dir / "short.csv", "path,identity,domain\na.jpg,A\n");
  EXPECT_NE(error_of(dir / "short.csv").find("short.csv:2"), std::string::npos);
  write_text(dir / "quote.csv", "path,identity,domain\n\"a.jpg,A,photo\n");
  EXPECT_NE(error_of(dir / "quote.csv").find("unterminated"), std::string::npos);
  write_text(dir / "noid.csv", "path,identity,domain\na.jpg,,photo\n");
  EXPECT_NE(error_of(dir / "noid.csv").find("empty identity"), std::string::npos);
  write_text(dir / "empty.csv", "path,identity,domain\n");
  EXPECT_NE(error_of(dir / "empty.csv").find("no images"), std::string::npos);
  write_text(dir / "blank.csv", "");
  EXPECT_NE(error_of(dir / "blank.csv").find("empty manifest"), std::string::npos);
  EXPECT_NE(error_of(dir / "absent.csv").find("cannot read"), std::string::npos);
}

TEST(CsvManifest, MissingImagesAreListed) {
  TempDir dir;
  write_text(dir / "a.jpg", "x");
  write_text(dir / "m.csv", "path,identity,domain\na.jpg,A,photo\nb.jpg,A,photo\nc.jpg,B,cartoon\n");
  std::string e = error_of(dir / "m.csv");
  EXPECT_NE(e.find("2 image file(s) not found"), std::string::npos) << e;
  EXPECT_NE(e.find("b.jpg"), std::string::npos);
  EXPECT_NE(e.find("m.csv:4"), std::string::npos);
}

TEST(CsvManifest, WriteThenReadRoundTrips) {
  TempDir dir;
  write_text(dir / "img/x.jpg", "x");
  write_text(dir / "img/y.jpg", "x");
  Dataset d({{dir / "img/x.jpg", "Id, with comma", Domain::Photo, "train"},
             {dir / "img/y.jpg", "Other", Domain::Cartoon, "test"}});
  write_csv_manifest(d, dir / "out/manifest.csv");
  Dataset back = load_csv_manifest(dir / "out/manifest.csv");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(std::filesystem::weakly_canonical(back[0].path), std::filesystem::weakly_canonical(dir / "img/x.jpg"));
  EXPECT_EQ(back[0].identity, "Id, with comma");
  EXPECT_EQ(back[1].domain, Domain::Cartoon);
  EXPECT_EQ(back[1].split, "test");
}

}  // namespace
}  // namespace toonreid
