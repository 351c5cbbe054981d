// The ports of face-api's SSD MobileNet v1 detector and 68-point landmark net reproduce
// what face-api itself computes in Node (tools/faceapi_reference/make_face_reference.js)
// for the images in tests/fixtures/faceapi/faces: raw anchor scores and boxes, the
// detections after NMS, and the landmarks of the face crop.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <fstream>

#include "data/image_io.h"
#include "face/landmark_net.h"
#include "face/ssd_mobilenet.h"
#include "face/tf_ops.h"
#include "model/faceapi_weights.h"
#include "test_util.h"

namespace toonreid {
namespace {

namespace fs = std::filesystem;

fs::path weights() { return default_faceapi_folder(testing::source_dir()); }
fs::path faces() { return fs::path(testing::source_dir()) / "tests/fixtures/faceapi/faces"; }

nlohmann::json reference() {
  std::ifstream in(faces() / "reference.json");
  return nlohmann::json::parse(in);
}

bool have_weights() { return fs::exists(weights() / "ssd_mobilenetv1_model.bin"); }

TEST(TfOps, SamePaddingPutsTheExtraPixelBottomRight) {
  // A 4x4 ramp, 1x1 kernel of ones, stride 2: TF samples rows/cols 0 and 2.
  torch::Tensor x = torch::arange(16, torch::kFloat).view({1, 1, 4, 4});
  torch::Tensor y = tf::conv2d_same(x, torch::ones({1, 1, 1, 1}), {}, 2);
  EXPECT_TRUE(torch::equal(y.flatten(), torch::tensor({0.f, 2.f, 8.f, 10.f})));
  // 3x3 kernel of ones, stride 2 on 4x4: pad 0 before, 1 after.
  torch::Tensor z = tf::conv2d_same(x, torch::ones({1, 1, 3, 3}), {}, 2);
  // Window rows 0..2, cols 0..2 -> sum of those 9 values.
  EXPECT_FLOAT_EQ(z[0][0][0][0].item<float>(), 0 + 1 + 2 + 4 + 5 + 6 + 8 + 9 + 10);
  // Window rows 2..4 (row 4 is padding), cols 2..4.
  EXPECT_FLOAT_EQ(z[0][0][1][1].item<float>(), 10 + 11 + 14 + 15);
}

TEST(TfOps, LegacyBilinearResizeAndPadding) {
  cv::Mat img(2, 4, CV_8UC3, cv::Scalar(0, 0, 0));
  for (int x = 0; x < 4; ++x) img.at<cv::Vec3b>(0, x) = cv::Vec3b(uchar(10 * x), 0, 0);
  std::vector<float> out(8 * 8 * 3);
  // Not centred: the image on top, zeros below; scale 4/8 = 0.5 source pixels per output pixel.
  tf::pad_square_resize(img, 8, false, out.data());
  EXPECT_FLOAT_EQ(out[3 * 0], 0.0f);
  EXPECT_FLOAT_EQ(out[3 * 1], 5.0f);   // between x=0 (0) and x=1 (10)
  EXPECT_FLOAT_EQ(out[3 * 7], 30.0f);  // source 3.5 -> clamped neighbour: 30
  EXPECT_FLOAT_EQ(out[3 * (8 * 7 + 2)], 0.0f);  // padded rows are zero
  // Centred: diff 2 -> round(1) row after, 1 row before; row 0 of the output is padding.
  tf::pad_square_resize(img, 4, true, out.data());
  EXPECT_FLOAT_EQ(out[3 * 1], 0.0f);
  EXPECT_FLOAT_EQ(out[3 * (4 * 1 + 1)], 10.0f);
}

TEST(SsdMobilenetV1, MatchesFaceApi) {
  if (!have_weights()) GTEST_SKIP() << "face-api weights not found in " << weights() << " (run make deps)";
  SsdMobilenetV1 net(weights());
  const nlohmann::json ref = reference();
  ASSERT_GE(ref["images"].size(), 5u);
  int detections = 0;
  for (const auto& item : ref["images"]) {
    SCOPED_TRACE(item["file"].get<std::string>());
    const cv::Mat img = read_image(faces() / item["file"].get<std::string>());
    auto [boxes, scores] = net.forward(SsdMobilenetV1::prepare(img).unsqueeze(0));
    ASSERT_EQ(scores.size(1), SsdMobilenetV1::kAnchors);
    for (const auto& a : item["top_anchors"]) {
      const int64_t i = a["index"];
      EXPECT_NEAR(scores[0][i].item<float>(), a["score"].get<float>(), 2e-4);
      for (int k = 0; k < 4; ++k) EXPECT_NEAR(boxes[0][i][k].item<float>(), a["box"][k].get<float>(), 2e-4);
    }
    // The best anchor is the same one (unless two are tied within the tolerance).
    const int64_t best = scores[0].argmax().item<int64_t>();
    EXPECT_NEAR(scores[0][best].item<float>(), item["top_anchors"][0]["score"].get<float>(), 2e-4);

    const std::vector<FaceBox> found = net.detect({img}, 0.3f).front();
    ASSERT_EQ(found.size(), item["detections"].size());
    for (std::size_t d = 0; d < found.size(); ++d) {
      const auto& e = item["detections"][d];
      EXPECT_NEAR(found[d].score, e["score"].get<float>(), 2e-4);
      EXPECT_NEAR(found[d].x, e["x"].get<float>(), 0.05);
      EXPECT_NEAR(found[d].y, e["y"].get<float>(), 0.05);
      EXPECT_NEAR(found[d].width, e["width"].get<float>(), 0.05);
      EXPECT_NEAR(found[d].height, e["height"].get<float>(), 0.05);
      ++detections;
    }
  }
  EXPECT_GE(detections, 1);  // the reference set exercises the whole path
}

TEST(FaceLandmarkNet68, MatchesFaceApi) {
  if (!have_weights()) GTEST_SKIP() << "face-api weights not found in " << weights() << " (run make deps)";
  FaceLandmarkNet68 net(weights());
  const nlohmann::json ref = reference();
  for (const auto& item : ref["images"]) {
    SCOPED_TRACE(item["file"].get<std::string>());
    const cv::Mat img = read_image(faces() / item["file"].get<std::string>());
    const auto& c = item["crop"];
    const cv::Mat crop = img(cv::Rect(c["x"], c["y"], c["width"], c["height"])).clone();
    const std::vector<cv::Point2f> got = net.predict({crop}).front();
    ASSERT_EQ(item["landmarks"].size(), 68u);
    double worst = 0;
    for (int k = 0; k < 68; ++k) {
      worst = std::max(worst, std::abs(double(got[k].x) - item["landmarks"][k][0].get<double>()));
      worst = std::max(worst, std::abs(double(got[k].y) - item["landmarks"][k][1].get<double>()));
    }
    EXPECT_LT(worst, 0.01) << "largest landmark difference in pixels";
  }
}

}  // namespace
}  // namespace toonreid
