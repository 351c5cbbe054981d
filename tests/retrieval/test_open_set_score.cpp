// Open-set scores and their calibration: cohort statistics and normalisations against
// hand-computed values, identity aggregation, the non-mated model's predicted FPIR and
// its inverse, and the calibration file's round trip and validation.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <fstream>

#include "core/base64.h"
#include "core/error.h"
#include "retrieval/open_set_score.h"
#include "test_util.h"

namespace toonreid {
namespace {

// Unit vectors in the plane: angle a (radians) -> (cos a, sin a).
torch::Tensor at_angles(const std::vector<double>& angles) {
  torch::Tensor t = torch::empty({static_cast<int64_t>(angles.size()), 2});
  for (std::size_t i = 0; i < angles.size(); ++i) {
    t[static_cast<int64_t>(i)][0] = std::cos(angles[i]);
    t[static_cast<int64_t>(i)][1] = std::sin(angles[i]);
  }
  return t;
}

// Euclidean distance of unit vectors at angle a apart: 2 sin(a / 2).
double chord(double a) { return 2 * std::sin(a / 2); }

TEST(CohortStats, MeanAndDeviationOfTheKNearest) {
  const torch::Tensor x = at_angles({0.0});
  const torch::Tensor cohort = at_angles({0.1, 0.2, 0.4, 3.0});
  const CohortStats s = cohort_stats(x, cohort, 2);
  const double a = chord(0.1), b = chord(0.2);
  EXPECT_NEAR(s.mean[0].item<float>(), (a + b) / 2, 1e-6);
  EXPECT_NEAR(s.stdev[0].item<float>(), std::abs(a - b) / 2, 1e-6);
  EXPECT_NEAR(cohort_stats(x, cohort, 100).mean[0].item<float>(),
              (a + b + chord(0.4) + chord(3.0)) / 4, 1e-6);  // K above the cohort's size: all of it
  EXPECT_THROW(cohort_stats(x, torch::empty({0, 2}), 2), Error);
  EXPECT_THROW(cohort_stats(x, torch::zeros({3, 5}), 2), Error);
}

TEST(ImageScores, SnormAndZnormByHand) {
  const torch::Tensor d = torch::tensor({0.5f, 0.7f, 0.9f, 1.1f}).view({2, 2});
  CohortStats q{torch::tensor({0.4f, 0.6f}), torch::tensor({0.1f, 0.2f})};
  CohortStats g{torch::tensor({0.2f, 0.8f}), torch::tensor({1.0f, 1.0f})};
  ScoreOptions o;
  o.normalization = ScoreNormalization::SNorm;
  const torch::Tensor s = image_scores(d, o, &q, &g);
  EXPECT_NEAR(s[0][0].item<float>(), 0.5 - 0.5 * (0.4 + 0.2), 1e-6);
  EXPECT_NEAR(s[1][1].item<float>(), 1.1 - 0.5 * (0.6 + 0.8), 1e-6);
  o.normalization = ScoreNormalization::ZNorm;
  const torch::Tensor z = image_scores(d, o, &q, nullptr);
  EXPECT_NEAR(z[0][1].item<float>(), (0.7 - 0.4) / 0.1, 1e-5);
  EXPECT_NEAR(z[1][0].item<float>(), (0.9 - 0.6) / 0.2, 1e-5);
  o.normalization = ScoreNormalization::SNorm;
  EXPECT_THROW(image_scores(d, o, &q, nullptr), Error);  // snorm needs both sides
  o.normalization = ScoreNormalization::None;
  EXPECT_TRUE(torch::equal(image_scores(d, o, nullptr, nullptr), d));
}

TEST(IdentityScores, MeanOfTheBestImagesAndTheRatio) {
  // One query; gallery labels {1, 1, 1, 2}.
  const torch::Tensor s = torch::tensor({0.3f, 0.1f, 0.5f, 0.4f}).view({1, 4});
  ScoreOptions o;
  o.aggregation = IdentityAggregation::MeanTop;
  o.top_m = 2;
  IdentityScores ids = identity_scores(s, {1, 1, 1, 2}, {1, 2, 7}, o);
  ASSERT_EQ(ids.labels, (std::vector<int>{1, 2}));  // 7 is not in the gallery
  EXPECT_NEAR(ids.scores[0][0].item<float>(), 0.2, 1e-6);  // (0.1 + 0.3) / 2
  EXPECT_NEAR(ids.scores[0][1].item<float>(), 0.4, 1e-6);  // its only image
  o.normalization = ScoreNormalization::Ratio;
  ids = identity_scores(s, {1, 1, 1, 2}, {1, 2}, o);
  EXPECT_NEAR(ids.scores[0][0].item<float>(), 0.2 / 0.4, 1e-6);  // best / second
  EXPECT_NEAR(ids.scores[0][1].item<float>(), 0.4 / 0.2, 1e-6);  // the rest over the best
  EXPECT_FALSE(o.calibratable());
  EXPECT_NEAR(aggregate_identity({0.9f, 0.2f, 0.4f, 0.3f}, o), 0.25, 1e-6);
}

TEST(NonMatedModel, PredictedFpirAndItsInverse) {
  // Two queries with the same shape: scores {m - 1, m, m + 1} (residuals -1.22, 0, 1.22).
  const NonMatedModel model({{1.0f, 2.0f, 3.0f}, {4.0f, 5.0f, 6.0f}, {7.0f}});  // the last has too few: skipped
  EXPECT_EQ(model.queries(), 2u);
  EXPECT_EQ(model.residuals(), 6u);
  // Below every residual: nothing accepted. Between the lowest and the middle residual of
  // query 1 only: H = 2/6 for it, 0 for query 2.
  EXPECT_DOUBLE_EQ(model.fpir(0.5, 1), 0.0);
  EXPECT_NEAR(model.fpir(1.5, 1), 0.5 * (2.0 / 6), 1e-12);
  EXPECT_NEAR(model.fpir(1.5, 3), 0.5 * (1 - std::pow(1 - 2.0 / 6, 3)), 1e-12);  // three identities
  // FPIR grows with the threshold and with the gallery.
  EXPECT_LE(model.fpir(2.5, 10), model.fpir(4.5, 10));
  EXPECT_LE(model.fpir(1.5, 2), model.fpir(1.5, 20));
  // The threshold is the largest with FPIR <= target: at most the target, more past it.
  for (double target : {0.05, 0.2, 0.5})
    for (int64_t n : {1, 5, 50}) {
      const double t = model.threshold(target, n);
      EXPECT_LE(model.fpir(t, n), target + 1e-12);
      EXPECT_GT(model.fpir(t + 1e-3, n), model.fpir(t, n) - 1e-12);
    }
  // More identities need a lower threshold for the same FPIR.
  EXPECT_LE(model.threshold(0.1, 100), model.threshold(0.1, 2));
  EXPECT_TRUE(std::isinf(model.threshold(1.0, 5)));
  EXPECT_THROW(NonMatedModel({{1.0f}, {2.0f, 2.0f}}), Error);  // nothing usable
}

Calibration small_calibration() {
  Calibration c;
  c.fingerprint = "fp-1";
  c.source = "test";
  c.score.normalization = ScoreNormalization::SNorm;
  c.score.cohort_top_k = 2;
  c.score.aggregation = IdentityAggregation::MeanTop;
  c.score.top_m = 2;
  c.cohort.photo = at_angles({0.5, 1.0, 1.5});
  c.cohort.cartoon = at_angles({2.0, 2.5});
  DirectionCalibration d;
  d.queries = 2;
  d.identities = 3;
  d.far.push_back({0.01, -0.25, 1000, true});
  d.identification = NonMatedModel({{0.1f, 0.2f, 0.4f}, {0.3f, 0.35f, 0.5f}});
  c.directions.push_back(d);
  return c;
}

TEST(Calibration, FileRoundTripAndChecks) {
  testing::TempDir dir;
  const Calibration c = small_calibration();
  c.save(dir / "cal.json");
  const Calibration back = Calibration::load(dir / "cal.json");
  EXPECT_EQ(back.fingerprint, "fp-1");
  EXPECT_EQ(back.score.to_json(), c.score.to_json());
  EXPECT_TRUE(torch::equal(back.cohort.photo, c.cohort.photo));  // float32 exactly
  EXPECT_TRUE(torch::equal(back.cohort.cartoon, c.cohort.cartoon));
  EXPECT_EQ(back.direction(Domain::Photo).far.front().threshold, -0.25);
  EXPECT_DOUBLE_EQ(back.direction(Domain::Photo).identification.threshold(0.1, 7),
                   c.direction(Domain::Photo).identification.threshold(0.1, 7));
  EXPECT_THROW(back.direction(Domain::Cartoon), Error);  // no P2C calibrated
  // Damaged files are refused naming the file.
  testing::write_text(dir / "bad.json", "{\"format\": \"something else\"}");
  try {
    Calibration::load(dir / "bad.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
  }
  testing::write_text(dir / "cut.json", testing::read_text(dir / "cal.json").substr(0, 200));
  EXPECT_THROW(Calibration::load(dir / "cut.json"), Error);
  nlohmann::json j = c.to_json();
  j["cohort"]["cartoon"] = nullptr;  // snorm without a cartoon cohort
  EXPECT_THROW(Calibration::from_json(j, "x"), Error);
  EXPECT_THROW(Calibration::load(dir / "missing.json"), Error);
}

TEST(Base64, RoundTripAndRejects) {
  for (std::size_t n = 0; n < 10; ++n) {
    std::vector<std::uint8_t> bytes;
    for (std::size_t i = 0; i < n; ++i) bytes.push_back(static_cast<std::uint8_t>(37 * i + 250));
    EXPECT_EQ(base64_decode(base64_encode(bytes), "t"), bytes) << n;
  }
  EXPECT_EQ(base64_encode({'M', 'a'}), "TWE=");
  EXPECT_THROW(base64_decode("TWE", "t"), Error);
  EXPECT_THROW(base64_decode("T!E=", "t"), Error);
  EXPECT_THROW(base64_decode("T=E=", "t"), Error);
}

}  // namespace
}  // namespace toonreid
