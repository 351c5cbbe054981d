#include "data/transforms.h"

#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"
#include "test_util.h"

namespace toonreid {
namespace {

using testing::test_pattern;

ConfigSchema input_schema() {
  ConfigSchema s;
  add_input_options(s);
  return s;
}

bool same(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0.0;
}

TEST(Transforms, TrainAndTestPipelinesProduceNormalisedTensorsOfTheInputSize) {
  ConfigSchema schema = input_schema();
  Config c = make_config(schema, {"input.size=[96, 64]"});
  TransformPipeline train = make_transforms(c, true), test = make_transforms(c, false);
  EXPECT_EQ(train.size(), 5u);  // resize, flip, pad-crop, normalise, erasing
  EXPECT_EQ(test.size(), 2u);   // resize, normalise
  EXPECT_NE(train.describe().find("RandomErasing"), std::string::npos);
  Rng rng(1);
  for (const auto* p : {&train, &test}) {
    std::vector<float> out = p->run(test_pattern(160, 120), rng);
    EXPECT_EQ(out.size(), 3u * 96 * 64);
    EXPECT_EQ(p->height(), 96);
    EXPECT_EQ(p->width(), 64);
    EXPECT_EQ(p->run_image_steps(test_pattern(50, 70), rng).size(), cv::Size(64, 96));
  }
  Config off = make_config(schema, {"input.flip_prob=0", "input.padding=0", "input.erasing.prob=0"});
  EXPECT_EQ(make_transforms(off, true).size(), 2u);
}

TEST(Transforms, SameSeedSameOutputDifferentSeedDifferentOutput) {
  ConfigSchema schema = input_schema();
  Config c = make_config(schema, {"input.size=[64, 64]", "input.erasing.prob=1.0"});
  TransformPipeline train = make_transforms(c, true);
  cv::Mat img = test_pattern(80, 80);
  Rng a(42), b(42), other(43);
  std::vector<float> xa = train.run(img, a), xb = train.run(img, b), xo = train.run(img, other);
  EXPECT_EQ(xa, xb);
  EXPECT_NE(xa, xo);
}

TEST(Transforms, NormalizeAppliesMeanAndStdAndWritesChannelPlanes) {
  TransformPipeline p(1, 2, {0.5, 0.25, 0.0}, {0.5, 0.25, 1.0});
  cv::Mat img(1, 2, CV_8UC3, cv::Scalar(255, 0, 51));
  img.at<cv::Vec3b>(0, 1) = cv::Vec3b(0, 255, 0);
  Rng rng(0);
  std::vector<float> v = p.run(img, rng);  // CHW: R0 R1 G0 G1 B0 B1
  ASSERT_EQ(v.size(), 6u);
  EXPECT_NEAR(v[0], 1.0, 1e-6);
  EXPECT_NEAR(v[1], -1.0, 1e-6);
  EXPECT_NEAR(v[2], -1.0, 1e-6);
  EXPECT_NEAR(v[3], 3.0, 1e-6);
  EXPECT_NEAR(v[4], 0.2, 1e-6);
  EXPECT_NEAR(v[5], 0.0, 1e-6);
}

TEST(Transforms, FlipWithProbabilityOneMirrors) {
  RandomHorizontalFlip flip(1.0);
  cv::Mat img = test_pattern(10, 4);
  Rng rng(0);
  cv::Mat out = flip.apply(img, rng);
  EXPECT_EQ(out.at<cv::Vec3b>(2, 0), img.at<cv::Vec3b>(2, 9));
  RandomHorizontalFlip never(0.0);
  EXPECT_TRUE(same(never.apply(img, rng), img));
}

TEST(Transforms, PadCropIsAShiftWithZeroFill) {
  PadRandomCrop crop(4);
  cv::Mat img = test_pattern(20, 16);
  bool shifted = false;
  for (int seed = 0; seed < 20; ++seed) {
    Rng rng(static_cast<std::uint64_t>(seed));
    cv::Mat out = crop.apply(img, rng);
    ASSERT_EQ(out.size(), img.size());
    // The same as padding with zeros and cropping at the offset the shift implies.
    cv::Mat padded;
    cv::copyMakeBorder(img, padded, 4, 4, 4, 4, cv::BORDER_CONSTANT, cv::Scalar::all(0));
    bool matched = false;
    for (int y = 0; y <= 8 && !matched; ++y)
      for (int x = 0; x <= 8 && !matched; ++x) matched = same(padded(cv::Rect(x, y, 20, 16)), out);
    EXPECT_TRUE(matched) << seed;
    shifted |= !same(out, img);
  }
  EXPECT_TRUE(shifted);
}

TEST(Transforms, ErasingCoversAnAreaWithinRange) {
  RandomErasing erase(1.0, 0.1, 0.2, 0.5, 2.0, ErasingFill::Mean);
  for (int seed = 0; seed < 30; ++seed) {
    std::vector<float> img(3 * 100 * 100, 1.0f);
    Rng rng(static_cast<std::uint64_t>(seed));
    erase.apply(img.data(), 100, 100, rng);
    for (int c = 0; c < 3; ++c) {
      double erased = std::count(img.begin() + c * 10000, img.begin() + (c + 1) * 10000, 0.0f) / 10000.0;
      EXPECT_GE(erased, 0.09);
      EXPECT_LE(erased, 0.21);
    }
  }
  EXPECT_THROW(RandomErasing(1.0, 0.5, 0.1, 0.3, 3.0, ErasingFill::Mean), Error);
}

TEST(Transforms, LetterboxKeepsAspectAndPadsWithFill) {
  Resize r(100, 100, ResizeMode::Letterbox, cv::Scalar(7, 7, 7));
  Rng rng(0);
  cv::Mat out = r.apply(cv::Mat(50, 100, CV_8UC3, cv::Scalar(200, 200, 200)), rng);
  EXPECT_EQ(out.size(), cv::Size(100, 100));
  EXPECT_EQ(out.at<cv::Vec3b>(0, 50), cv::Vec3b(7, 7, 7));
  EXPECT_EQ(out.at<cv::Vec3b>(50, 50), cv::Vec3b(200, 200, 200));
}

TEST(Transforms, InconsistentRangesInConfigAreErrors) {
  ConfigSchema schema = input_schema();
  Config c = make_config(schema, {"input.erasing.area=[0.5, 0.1]"});
  try {
    make_transforms(c, true);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("input.erasing.area"), std::string::npos);
  }
}

}  // namespace
}  // namespace toonreid
