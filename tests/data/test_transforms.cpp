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
  Rng rng(1);
  for (const auto* p : {&train, &test}) {
    cv::Mat out = (*p)(test_pattern(160, 120), rng);
    EXPECT_EQ(out.type(), CV_32FC3);
    EXPECT_EQ(out.rows, 96);
    EXPECT_EQ(out.cols, 64);
    EXPECT_EQ(p->height, 96);
    EXPECT_EQ(p->width, 64);
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
  cv::Mat xa = train(img, a), xb = train(img, b), xo = train(img, other);
  EXPECT_TRUE(same(xa, xb));
  EXPECT_FALSE(same(xa, xo));
}

TEST(Transforms, NormalizeAppliesMeanAndStd) {
  Normalize n({0.5, 0.25, 0.0}, {0.5, 0.25, 1.0});
  cv::Mat img(1, 1, CV_8UC3, cv::Scalar(255, 0, 51));
  Rng rng(0);
  cv::Vec3f v = n.apply(img, rng).at<cv::Vec3f>(0, 0);
  EXPECT_NEAR(v[0], 1.0, 1e-6);
  EXPECT_NEAR(v[1], -1.0, 1e-6);
  EXPECT_NEAR(v[2], 0.2, 1e-6);
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

TEST(Transforms, PadCropKeepsSizeAndShiftsContent) {
  PadRandomCrop crop(4);
  cv::Mat img = test_pattern(20, 16);
  bool shifted = false;
  for (int seed = 0; seed < 20; ++seed) {
    Rng rng(static_cast<std::uint64_t>(seed));
    cv::Mat out = crop.apply(img, rng);
    ASSERT_EQ(out.size(), img.size());
    shifted |= !same(out, img);
  }
  EXPECT_TRUE(shifted);
}

TEST(Transforms, ErasingCoversAnAreaWithinRange) {
  RandomErasing erase(1.0, 0.1, 0.2, 0.5, 2.0, ErasingFill::Mean);
  cv::Mat img(100, 100, CV_32FC3, cv::Scalar::all(1.0));
  for (int seed = 0; seed < 30; ++seed) {
    Rng rng(static_cast<std::uint64_t>(seed));
    cv::Mat out = erase.apply(img, rng);
    std::vector<cv::Mat> ch;
    cv::split(out, ch);
    double erased = 1.0 - cv::countNonZero(ch[0]) / 10000.0;
    EXPECT_GE(erased, 0.09);
    EXPECT_LE(erased, 0.21);
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
