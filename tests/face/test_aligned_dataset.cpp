// Aligning data sets: the aligned copy (toonreid align) and the inline cache
// (input.align) report unreadable images instead of crashing, resume work done with the
// same settings, and start again when the settings change.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "data/csv_manifest.h"
#include "data/image_io.h"
#include "data/webcaricature.h"
#include "face/aligned_dataset.h"
#include "model/faceapi_weights.h"
#include "test_util.h"

namespace toonreid {
namespace {

namespace fs = std::filesystem;

fs::path faces() { return fs::path(testing::source_dir()) / "tests/fixtures/faceapi/faces"; }
bool have_weights() { return fs::exists(default_faceapi_folder(testing::source_dir()) / "ssd_mobilenetv1_model.bin"); }

FaceOptions fast_options() {
  FaceOptions o;
  o.detectors = {"ssd"};
  o.weights_dir = default_faceapi_folder(testing::source_dir());
  return o;
}

// A small WebCaricature-layout set: two identities, the reference face images, a
// truncated JPEG and an empty file.
fs::path make_set(const fs::path& root) {
  const cv::Mat cartoon = read_image(faces() / "cartoon_a.png");
  const cv::Mat photo = read_image(faces() / "photo_a.png");
  write_image(root / "images/Ann/C00001.jpg", cartoon);
  write_image(root / "images/Ann/P00001.png", photo);
  write_image(root / "images/Bob/P00001.jpg", read_image(faces() / "gradient.png"));
  write_image(root / "images/Bob/C00001.jpg", read_image(faces() / "tall.png"));
  const std::vector<std::uint8_t> jpeg = encode_jpeg(photo);
  std::ofstream(root / "images/Bob/P00002.jpg", std::ios::binary)
      .write(reinterpret_cast<const char*>(jpeg.data()), static_cast<std::streamsize>(jpeg.size() / 3));
  std::ofstream(root / "images/Bob/C00002.jpg", std::ios::binary).flush();
  testing::write_text(root / "splits/test.txt", "Ann\nBob\n");
  return root;
}

std::size_t count_path(const AlignmentSummary& s, const std::string& path) {
  auto it = s.by_path.find(path);
  return it == s.by_path.end() ? 0 : it->second[0] + it->second[1];
}

TEST(AlignCopy, WritesTheLayoutReportsBadImagesAndResumes) {
  if (!have_weights()) GTEST_SKIP() << "face-api weights missing (run make deps)";
  testing::TempDir tmp;
  const fs::path src = make_set(tmp / "src");
  const Dataset data = open_dataset(src);
  ASSERT_EQ(data.size(), 6u);
  FaceAligner aligner(fast_options());
  AlignRunOptions run;
  run.workers = 2;
  const fs::path out = tmp / "out";
  const AlignmentSummary s = align_copy(data, src, aligner, out, run);
  EXPECT_EQ(s.aligned, 4u);
  EXPECT_EQ(s.failed, 2u);
  ASSERT_EQ(s.errors.size(), 2u);
  std::string errors = s.errors[0] + "\n" + s.errors[1];
  EXPECT_NE(errors.find("P00002.jpg"), std::string::npos) << errors;  // truncated
  EXPECT_NE(errors.find("C00002.jpg"), std::string::npos) << errors;  // empty
  EXPECT_GE(count_path(s, "ssd"), 1u);
  EXPECT_GE(count_path(s, "letterbox"), 1u);
  EXPECT_EQ(read_image(out / "images/Ann/C00001.jpg").size(), cv::Size(150, 150));
  EXPECT_TRUE(fs::exists(out / "images/Ann/P00001.png"));  // PNG stays PNG
  EXPECT_FALSE(fs::exists(out / "images/Bob/C00002.jpg"));
  EXPECT_TRUE(fs::exists(out / "splits/test.txt"));
  EXPECT_FALSE(fs::exists(out / "alignment.partial.csv"));
  // alignment.csv: a header and a row per image, errors included.
  std::ifstream in(out / "alignment.csv");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, AlignmentRow::csv_header());
  std::size_t rows = 0, error_rows = 0;
  while (std::getline(in, line)) {
    const AlignmentRow r = AlignmentRow::from_csv(line, "alignment.csv");
    ++rows;
    error_rows += r.path_taken == "error";
    if (r.path_taken == "ssd") {
      EXPECT_EQ(r.landmarks.size(), 68u);
    }
  }
  EXPECT_EQ(rows, 6u);
  EXPECT_EQ(error_rows, 2u);
  // The aligned copy opens as a data set with the same identities and splits.
  const Dataset aligned = open_dataset(out);
  EXPECT_EQ(aligned.size(), 4u);
  EXPECT_EQ(aligned.split("test").size(), 4u);

  // Again: everything that worked is reused; a changed source is aligned again.
  const AlignmentSummary again = align_copy(data, src, aligner, out, run);
  EXPECT_EQ(again.reused, 4u);
  EXPECT_EQ(again.aligned, 0u);
  write_image(src / "images/Ann/C00001.jpg", read_image(faces() / "wide.png"));
  const AlignmentSummary changed = align_copy(open_dataset(src), src, aligner, out, run);
  EXPECT_EQ(changed.reused, 3u);
  EXPECT_EQ(changed.aligned, 1u);
  // Other settings: nothing is reused.
  FaceOptions other = fast_options();
  other.chip.size = 112;
  const AlignmentSummary resized = align_copy(open_dataset(src), src, FaceAligner(other), out, run);
  EXPECT_EQ(resized.reused, 0u);
  EXPECT_EQ(read_image(out / "images/Ann/C00001.jpg").size(), cv::Size(112, 112));
}

TEST(AlignWithCache, ReusesChipsAndIsInvalidatedBySettings) {
  if (!have_weights()) GTEST_SKIP() << "face-api weights missing (run make deps)";
  testing::TempDir tmp;
  const fs::path src = make_set(tmp / "src");
  // Only the readable images: the loader would report the others itself.
  std::vector<ImageRecord> good;
  const Dataset all = open_dataset(src);
  for (const auto& r : all.records())
    if (r.path.filename() != "P00002.jpg" && r.path.filename() != "C00002.jpg") good.push_back(r);
  const Dataset data(good, src.string());
  const fs::path cache = tmp / "cache";
  FaceAligner aligner(fast_options());
  AlignRunOptions run;
  AlignmentSummary first, second, third;
  const Dataset a = align_with_cache(data, aligner, cache, run, &first);
  EXPECT_EQ(first.aligned, 4u);
  EXPECT_EQ(first.reused, 0u);
  for (const auto& r : a.records()) {
    EXPECT_EQ(r.path.extension(), ".jpg");
    EXPECT_TRUE(r.path.string().rfind(cache.string(), 0) == 0) << r.path;
    EXPECT_EQ(read_image(r.path).size(), cv::Size(150, 150));
  }
  EXPECT_EQ(a[0].identity, data[0].identity);
  const Dataset b = align_with_cache(data, aligner, cache, run, &second);
  EXPECT_EQ(second.reused, 4u);
  EXPECT_EQ(second.aligned, 0u);
  EXPECT_EQ(b[0].path, a[0].path);
  EXPECT_EQ(second.by_path, first.by_path);  // the paths taken come back from the cache

  FaceOptions other = fast_options();
  other.chip.padding = 0.4;
  const Dataset c = align_with_cache(data, FaceAligner(other), cache, run, &third);
  EXPECT_EQ(third.aligned, 4u);
  EXPECT_EQ(third.reused, 0u);
  EXPECT_NE(c[0].path, a[0].path);

  // User landmarks take part in the key: other landmarks, another chip.
  std::vector<ImageRecord> with_points = good;
  std::vector<float> xy;
  for (int i = 0; i < 5; ++i) { xy.push_back(40.0f + 15 * (i % 2)); xy.push_back(40.0f + 10 * i); }
  with_points[0].landmarks = xy;
  AlignmentSummary fourth;
  const Dataset d = align_with_cache(Dataset(with_points), aligner, cache, run, &fourth);
  EXPECT_EQ(fourth.reused, 3u);
  EXPECT_EQ(count_path(fourth, "user"), 1u);
  EXPECT_NE(d[0].path, a[0].path);
}

TEST(UserLandmarks, WebCaricatureFacialPointsAndManifestColumn) {
  testing::TempDir tmp;
  const fs::path root = tmp / "wc";
  write_image(root / "images/Ann/C00001.jpg", testing::test_pattern(64, 64));
  write_image(root / "images/Ann/P00001.jpg", testing::test_pattern(64, 64, 1));
  std::string points;
  for (int i = 0; i < 17; ++i) points += std::to_string(10 + i) + "\t" + std::to_string(20 + i) + "\n";
  testing::write_text(root / "FacialPoints/Ann/C00001.txt", points);
  Dataset wc = open_dataset(root);
  ASSERT_EQ(wc.size(), 2u);
  EXPECT_EQ(wc[0].landmarks.size(), 34u);
  EXPECT_FLOAT_EQ(wc[0].landmarks[2], 11.0f);
  EXPECT_TRUE(wc[1].landmarks.empty());
  testing::write_text(root / "FacialPoints/Ann/P00001.txt", "1 2 3\n");
  EXPECT_THROW(open_dataset(root), DataError);

  testing::write_text(tmp / "m.csv",
                      "path,identity,domain,landmarks\nwc/images/Ann/C00001.jpg,Ann,cartoon,\"1 2 3 4 5 6 7 8 9 10\"\n"
                      "wc/images/Ann/P00001.jpg,Ann,photo,\n");
  const Dataset m = load_csv_manifest(tmp / "m.csv");
  EXPECT_EQ(m[0].landmarks.size(), 10u);
  EXPECT_TRUE(m[1].landmarks.empty());
  testing::write_text(tmp / "bad.csv", "path,identity,domain,landmarks\nwc/images/Ann/C00001.jpg,Ann,cartoon,1 2 x 4\n");
  try {
    load_csv_manifest(tmp / "bad.csv");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace toonreid
