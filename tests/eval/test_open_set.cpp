// Open-set metrics against values computed by hand on small cases.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <set>

#include "core/error.h"
#include "eval/open_set.h"

namespace toonreid {
namespace {

// Queries labelled {0, 1, 2}; gallery {0, 0, 1, 3}.
//   q0: 0.1 0.5 | 0.3 | 0.9      genuine 0.1, 0.5
//   q1: 0.6 0.7 | 0.2 | 0.4      genuine 0.2
//   q2: 0.35 0.8 | 0.45 | 0.25   (identity 2 is not in the gallery: impostors only)
// Impostors sorted: 0.25 0.3 0.35 0.4 0.45 0.6 0.7 0.8 0.9; genuine 0.1 0.2 0.5.
torch::Tensor small_scores() {
  return torch::tensor({0.1f, 0.5f, 0.3f, 0.9f, 0.6f, 0.7f, 0.2f, 0.4f, 0.35f, 0.8f, 0.45f, 0.25f}).view({3, 4});
}

TEST(Verification, HandComputedRocAucEer) {
  const VerificationMetrics m = evaluate_verification(small_scores(), {0, 1, 2}, {0, 0, 1, 3}, {0.1, 0.5, 1.0});
  EXPECT_EQ(m.genuine, 3u);
  EXPECT_EQ(m.impostor, 9u);
  // AUC: impostors above each genuine score: 9, 9, 4 of 9.
  EXPECT_NEAR(m.auc, 22.0 / 27.0, 1e-12);
  // FAR 0.1: floor(0.9) = 0 impostors may pass: threshold = the lowest, 0.25; TAR 2/3.
  ASSERT_EQ(m.at_far.size(), 3u);
  EXPECT_FLOAT_EQ(static_cast<float>(m.at_far[0].threshold), 0.25f);
  EXPECT_EQ(m.at_far[0].false_alarms, 0u);
  EXPECT_NEAR(m.at_far[0].hit, 2.0 / 3, 1e-12);
  EXPECT_FALSE(m.at_far[0].supported);  // 0.1 x 9 < 10
  // FAR 0.5: 4 may pass: threshold = 5th impostor, 0.45; realised 4/9; TAR still 2/3.
  EXPECT_FLOAT_EQ(static_cast<float>(m.at_far[1].threshold), 0.45f);
  EXPECT_NEAR(m.at_far[1].false_alarm, 4.0 / 9, 1e-12);
  EXPECT_NEAR(m.at_far[1].hit, 2.0 / 3, 1e-12);
  // FAR 1: everything accepted.
  EXPECT_TRUE(std::isinf(m.at_far[2].threshold));
  EXPECT_NEAR(m.at_far[2].hit, 1.0, 1e-12);
  EXPECT_NEAR(m.at_far[2].false_alarm, 1.0, 1e-12);
  // EER: accepting everything <= 0.35 gives FAR 3/9 and FRR 1/3.
  EXPECT_NEAR(m.eer, 1.0 / 3, 1e-12);
  EXPECT_NEAR(m.eer_threshold, 0.375, 1e-6);
  // The ROC rises monotonically from FAR 1/9 to 1.
  ASSERT_FALSE(m.roc.empty());
  for (std::size_t i = 1; i < m.roc.size(); ++i) {
    EXPECT_GE(m.roc[i].false_alarm, m.roc[i - 1].false_alarm);
    EXPECT_GE(m.roc[i].hit, m.roc[i - 1].hit);
  }
  EXPECT_NEAR(m.roc.back().hit, 1.0, 1e-12);
}

TEST(Verification, RejectsNanAndOneSidedTrials) {
  torch::Tensor s = small_scores();
  s[1][3] = std::nanf("");
  EXPECT_THROW(evaluate_verification(s, {0, 1, 2}, {0, 0, 1, 3}, {0.1}), Error);
  EXPECT_THROW(evaluate_verification(small_scores(), {5, 6, 7}, {0, 0, 1, 3}, {0.1}), Error);  // no genuine pair
  EXPECT_THROW(evaluate_verification(small_scores(), {0, 1}, {0, 0, 1, 3}, {0.1}), Error);     // wrong shape
}

// Five queries, enrolled identities {0, 1} (gallery {0, 0, 1, 3}: identity 3 is dropped).
//   q0 (0): id0 0.1, id1 0.3 -> 0, right      q1 (1): id0 0.6, id1 0.2 -> 1, right
//   q2 (2): id0 0.35, id1 0.45 -> non-mated    q3 (0): id0 0.6, id1 0.3 -> 1, wrong
//   q4 (3): id0 0.2, id1 0.9 -> non-mated (3 is not enrolled)
torch::Tensor open_set_scores() {
  return torch::tensor({0.1f, 0.5f, 0.3f, 0.9f, 0.6f, 0.7f, 0.2f, 0.4f, 0.35f, 0.8f, 0.45f, 0.25f,
                        0.7f, 0.6f, 0.3f, 0.1f, 0.5f, 0.2f, 0.9f, 0.05f})
      .view({5, 4});
}

ScoreOptions mean_of(int m) {
  ScoreOptions o;
  o.aggregation = IdentityAggregation::MeanTop;
  o.top_m = m;
  return o;
}

TEST(OpenSet, HandComputedDirAndFpir) {
  const IdentityScores ids = identity_scores(open_set_scores(), {0, 0, 1, 3}, {0, 1}, ScoreOptions{});
  ASSERT_EQ(ids.labels, (std::vector<int>{0, 1}));
  EXPECT_FLOAT_EQ(ids.scores[3][0].item<float>(), 0.6f);
  const OpenSetMetrics m = evaluate_open_set(ids, {0, 1, 2, 0, 3}, {0.01, 0.5, 1.0}, 2);
  EXPECT_EQ(m.mated, 3u);
  EXPECT_EQ(m.non_mated, 2u);
  EXPECT_EQ(m.enrolled, 2u);
  EXPECT_EQ(m.unenrolled, 2u);
  EXPECT_NEAR(m.rank1, 2.0 / 3, 1e-12);
  // Non-mated best scores 0.2, 0.35. FPIR 0.01: threshold 0.2, only q0 (0.1) identified.
  EXPECT_FLOAT_EQ(static_cast<float>(m.at_fpir[0].threshold), 0.2f);
  EXPECT_NEAR(m.at_fpir[0].hit, 1.0 / 3, 1e-12);
  EXPECT_NEAR(m.at_fpir[0].false_alarm, 0.0, 1e-12);
  // FPIR 0.5: threshold 0.35 passes q0 and q1, and the non-mated 0.2.
  EXPECT_FLOAT_EQ(static_cast<float>(m.at_fpir[1].threshold), 0.35f);
  EXPECT_NEAR(m.at_fpir[1].hit, 2.0 / 3, 1e-12);
  EXPECT_NEAR(m.at_fpir[1].false_alarm, 0.5, 1e-12);
  // FPIR 1: closed-set rank-1.
  EXPECT_NEAR(m.at_fpir[2].hit, m.rank1, 1e-12);
}

TEST(OpenSet, MeanOfTopImagesAndTheSecondCandidate) {
  const IdentityScores ids = identity_scores(open_set_scores(), {0, 0, 1, 3}, {0, 1, 3}, mean_of(2));
  ASSERT_EQ(ids.labels, (std::vector<int>{0, 1, 3}));
  EXPECT_NEAR(ids.scores[0][0].item<float>(), 0.3, 1e-6);   // (0.1 + 0.5) / 2
  EXPECT_NEAR(ids.scores[0][1].item<float>(), 0.3, 1e-6);   // one image
  EXPECT_NEAR(ids.scores[4][2].item<float>(), 0.05, 1e-6);
  const BestCandidates b = best_candidates(ids);
  EXPECT_EQ(b.label[4], 3);
  EXPECT_NEAR(b.second[4], 0.35, 1e-6);  // id0: (0.5 + 0.2) / 2
  EXPECT_EQ(b.label[0], 0);               // a tie keeps the first identity
}

TEST(OpenSet, NeedsMatedAndNonMatedQueries) {
  const IdentityScores ids = identity_scores(open_set_scores(), {0, 0, 1, 3}, {0, 1, 3}, ScoreOptions{});
  EXPECT_THROW(evaluate_open_set(ids, {0, 1, 1, 0, 3}, {0.1}), Error);  // every query mated
}

TEST(OpenSet, SplitIsSeededDisjointAndComplete) {
  std::vector<int> labels;
  for (int i = 0; i < 40; ++i) labels.push_back(i % 10);
  const OpenSetSplit a = split_identities(labels, 0.5, 3), b = split_identities(labels, 0.5, 3);
  EXPECT_EQ(a.enrolled, b.enrolled);
  EXPECT_EQ(a.enrolled.size(), 5u);
  EXPECT_EQ(a.unenrolled.size(), 5u);
  std::set<int> all(a.enrolled.begin(), a.enrolled.end());
  all.insert(a.unenrolled.begin(), a.unenrolled.end());
  EXPECT_EQ(all.size(), 10u);
  // Another seed, another split (for these ten identities, at least one of a few seeds).
  bool differs = false;
  for (std::uint64_t s = 4; s < 8; ++s) differs |= split_identities(labels, 0.5, s).enrolled != a.enrolled;
  EXPECT_TRUE(differs);
  EXPECT_EQ(split_identities(labels, 0.01, 0).enrolled.size(), 1u);  // at least one enrolled
  EXPECT_EQ(split_identities(labels, 0.99, 0).unenrolled.size(), 1u);  // at least one left out
  EXPECT_THROW(split_identities({1, 1}, 0.5, 0), Error);
}

TEST(FalseAlarmModel, ThresholdConvention) {
  const FalseAlarmModel m({0.4f, 0.1f, 0.3f, 0.2f});
  EXPECT_FLOAT_EQ(static_cast<float>(m.threshold(0.0)), 0.1f);  // nothing accepted
  EXPECT_FLOAT_EQ(static_cast<float>(m.threshold(0.25)), 0.2f);  // one accepted
  EXPECT_FLOAT_EQ(static_cast<float>(m.threshold(0.49)), 0.2f);
  EXPECT_FLOAT_EQ(static_cast<float>(m.threshold(0.5)), 0.3f);
  EXPECT_TRUE(std::isinf(m.threshold(1.0)));
  EXPECT_EQ(m.count_below(0.3), 2u);
  EXPECT_NEAR(m.rate(0.35), 0.75, 1e-12);
}

}  // namespace
}  // namespace toonreid
