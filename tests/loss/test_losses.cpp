#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>

#include "core/error.h"
#include "loss/center.h"
#include "loss/cross_entropy.h"
#include "loss/distances.h"
#include "loss/triplet.h"

namespace toonreid {
namespace {

// Six 1-D features: identity 0 at 0 (photo), 1 (cartoon), 3 (photo); identity 1 at
// 4 (cartoon), 2 (photo), 10 (cartoon). Distances are |x_i - x_j|.
struct Batch {
  at::Tensor x = at::tensor({0.0f, 1.0f, 3.0f, 4.0f, 2.0f, 10.0f}).unsqueeze(1);
  at::Tensor labels = at::tensor({0L, 0L, 0L, 1L, 1L, 1L});
  at::Tensor domains = at::tensor({0L, 1L, 0L, 1L, 0L, 1L});
};

TEST(Distances, EuclideanMatchesDefinition) {
  at::Tensor a = at::tensor({0.0f, 0.0f, 3.0f, 4.0f}).view({2, 2});
  at::Tensor d = euclidean_distances(a, a);
  EXPECT_NEAR(d[0][1].item<float>(), 5.0, 1e-5);
  EXPECT_NEAR(d[1][1].item<float>(), 0.0, 1e-5);
}

TEST(TripletLoss, BatchHardOverAllSamples) {
  Batch b;
  TripletOptions o;
  o.mining = TripletMining::All;
  // Per anchor (hardest positive, hardest negative): (3,2) (2,1) (3,1) (6,1) (8,1) (8,7).
  TripletResult r = batch_hard_triplet(b.x, b.labels, b.domains, o);
  EXPECT_NEAR(r.loss.item<float>(), (1.3 + 1.3 + 2.3 + 5.3 + 7.3 + 1.3) / 6, 1e-4);
  EXPECT_TRUE(at::allclose(r.dist_ap, at::tensor({3.0f, 2.0f, 3.0f, 6.0f, 8.0f, 8.0f}), 1e-4, 1e-4));
  EXPECT_TRUE(at::allclose(r.dist_an, at::tensor({2.0f, 1.0f, 1.0f, 1.0f, 1.0f, 7.0f}), 1e-4, 1e-4));
}

TEST(TripletLoss, CrossDomainMiningSearchesTheOtherDomainOnly) {
  Batch b;
  TripletOptions o;  // cross-domain by default
  // Photo anchor 0 sees only cartoons: positive 1 (d 1), negatives 3 (4) and 5 (10):
  // max(0, 1 - 4 + 0.3) = 0, whereas all-sample mining gave (3, 2).
  TripletResult r = batch_hard_triplet(b.x, b.labels, b.domains, o);
  EXPECT_TRUE(at::allclose(r.dist_ap, at::tensor({1.0f, 2.0f, 2.0f, 2.0f, 8.0f, 8.0f}), 1e-4, 1e-4));
  EXPECT_TRUE(at::allclose(r.dist_an, at::tensor({4.0f, 1.0f, 1.0f, 1.0f, 1.0f, 7.0f}), 1e-4, 1e-4));
  EXPECT_NEAR(r.loss.item<float>(), (0 + 1.3 + 1.3 + 1.3 + 7.3 + 1.3) / 6, 1e-4);

  o.soft_margin = true;
  auto soft = [](double v) { return std::log1p(std::exp(v)); };
  double expected = (soft(-3) + soft(1) + soft(1) + soft(1) + soft(7) + soft(1)) / 6;
  EXPECT_NEAR(batch_hard_triplet(b.x, b.labels, b.domains, o).loss.item<float>(), expected, 1e-4);
}

TEST(TripletLoss, AnchorsWithoutCrossDomainPairsFallBackOrAreDropped) {
  Batch b;
  // Identity 2 has two photos and no cartoon: no cross-domain positive.
  at::Tensor x = at::cat({b.x, at::tensor({5.0f, 6.0f}).unsqueeze(1)});
  at::Tensor labels = at::cat({b.labels, at::tensor({2L, 2L})});
  at::Tensor domains = at::cat({b.domains, at::tensor({0L, 0L})});
  TripletOptions o;
  TripletResult with = batch_hard_triplet(x, labels, domains, o);
  ASSERT_EQ(with.anchors.numel(), 8);
  // Anchor 6 (x = 5) falls back to all samples: positive 7 (d 1), nearest negative 4 (d 1).
  EXPECT_NEAR(with.dist_ap[6].item<float>(), 1.0, 1e-4);
  EXPECT_NEAR(with.dist_an[6].item<float>(), 1.0, 1e-4);
  o.fallback_to_all = false;
  TripletResult without = batch_hard_triplet(x, labels, domains, o);
  EXPECT_TRUE(at::equal(without.anchors, at::arange(6)));
}

TEST(TripletLoss, GradientsFlowAndEmptyBatchesAreZero) {
  Batch b;
  at::Tensor x = b.x.clone().requires_grad_(true);
  TripletOptions o;
  batch_hard_triplet(x, b.labels, b.domains, o).loss.backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_TRUE(at::isfinite(x.grad()).all().item<bool>());
  EXPECT_GT(x.grad().abs().sum().item<float>(), 0);

  // One identity only: no negatives anywhere.
  at::Tensor y = at::rand({3, 4}).requires_grad_(true);
  TripletResult r = batch_hard_triplet(y, at::zeros({3}, at::kLong), at::tensor({0L, 1L, 0L}), o);
  EXPECT_EQ(r.anchors.numel(), 0);
  EXPECT_EQ(r.loss.item<float>(), 0.0f);
  r.loss.backward();  // must not throw
  EXPECT_THROW(batch_hard_triplet(y, at::zeros({2}, at::kLong), at::zeros({3}, at::kLong), o), Error);
}

TEST(TripletLoss, NormalizeMeasuresOnTheUnitSphere) {
  at::Tensor x = at::tensor({1.0f, 0.0f, 10.0f, 0.0f, 0.0f, 1.0f, 0.0f, 5.0f}).view({4, 2});
  at::Tensor labels = at::tensor({0L, 0L, 1L, 1L});
  TripletOptions o;
  o.mining = TripletMining::All;
  o.normalize = true;
  TripletResult r = batch_hard_triplet(x, labels, labels, o);
  EXPECT_NEAR(r.dist_ap[0].item<float>(), 0.0, 1e-3);               // same direction
  EXPECT_NEAR(r.dist_an[0].item<float>(), std::sqrt(2.0), 1e-4);    // orthogonal unit vectors
}

TEST(CrossEntropyLabelSmoothing, MatchesHandComputation) {
  at::Tensor logits = at::tensor({2.0f, 0.0f, 0.0f}).view({1, 3});
  at::Tensor labels = at::tensor({0L});
  double log_z = std::log(std::exp(2.0) + 2.0);
  double nll_true = log_z - 2.0, nll_other = log_z;
  double expected = 0.9 * nll_true + 0.1 * (nll_true + 2 * nll_other) / 3;
  EXPECT_NEAR(cross_entropy_label_smoothing(logits, labels, 0.1).item<float>(), expected, 1e-5);
  // eps = 0 is plain cross-entropy.
  EXPECT_NEAR(cross_entropy_label_smoothing(logits, labels, 0.0).item<float>(), nll_true, 1e-5);
  EXPECT_THROW(cross_entropy_label_smoothing(logits, labels, 1.0), Error);
  EXPECT_THROW(cross_entropy_label_smoothing(logits, at::tensor({0L, 1L}), 0.1), Error);
}

TEST(CenterLoss, IsTheMeanSquaredDistanceToOwnCentre) {
  at::Tensor f = at::tensor({1.0f, 0.0f, 3.0f, 4.0f}).view({2, 2});
  at::Tensor centers = at::tensor({0.0f, 0.0f, 3.0f, 2.0f}).view({2, 2});
  // Sample 0 to centre 0: 1; sample 1 to centre 1: 4.
  EXPECT_NEAR(center_loss(f, at::tensor({0L, 1L}), centers).item<float>(), 2.5, 1e-5);
  at::Tensor c = centers.clone().requires_grad_(true);
  center_loss(f, at::tensor({0L, 0L}), c).backward();
  // d/dc0 of mean(||f_i - c0||^2) = -(f_0 - c0) - (f_1 - c0) = -(4, 4).
  EXPECT_TRUE(at::allclose(c.grad()[0], at::tensor({-4.0f, -4.0f})));
  EXPECT_TRUE(at::allclose(c.grad()[1], at::zeros({2})));
}

}  // namespace
}  // namespace toonreid
