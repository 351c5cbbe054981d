// CosFace, ArcFace and Circle logits and losses, L2-SP and feature distillation,
// against values computed by hand.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

#include "core/error.h"
#include "loss/margin_softmax.h"
#include "loss/regularizers.h"

namespace toonreid {
namespace {

// One sample, three classes, true class 1.
const torch::Tensor kCos = torch::tensor({{0.2f, 0.6f, -0.4f}});
const torch::Tensor kLabel = torch::tensor({1}, torch::kLong);

double softmax_ce(std::vector<double> z, int y) {
  double mx = *std::max_element(z.begin(), z.end()), sum = 0;
  for (double v : z) sum += std::exp(v - mx);
  return -(z[y] - mx - std::log(sum));
}

TEST(MarginSoftmax, CosFaceSubtractsTheMarginFromTheTrueClass) {
  const torch::Tensor z = margin_logits(kCos, kLabel, MarginLoss::CosFace, 10, 0.35);
  EXPECT_NEAR(z[0][0].item<double>(), 2.0, 1e-5);
  EXPECT_NEAR(z[0][1].item<double>(), 10 * (0.6 - 0.35), 1e-5);
  EXPECT_NEAR(z[0][2].item<double>(), -4.0, 1e-5);
  EXPECT_NEAR(margin_softmax_loss(kCos, kLabel, MarginLoss::CosFace, 10, 0.35).item<double>(),
              softmax_ce({2.0, 2.5, -4.0}, 1), 1e-5);
}

TEST(MarginSoftmax, ArcFaceAddsTheMarginToTheAngle) {
  const torch::Tensor z = margin_logits(kCos, kLabel, MarginLoss::ArcFace, 10, 0.5);
  EXPECT_NEAR(z[0][1].item<double>(), 10 * std::cos(std::acos(0.6) + 0.5), 1e-4);
  EXPECT_NEAR(z[0][0].item<double>(), 2.0, 1e-5);
  // Beyond theta + m > pi: the linear extension cos - m sin m (monotonic, no wrap-around).
  const torch::Tensor far = margin_logits(torch::tensor({{-0.99f, 0.1f}}), torch::tensor({0}, torch::kLong),
                                          MarginLoss::ArcFace, 1, 0.5);
  EXPECT_NEAR(far[0][0].item<double>(), -0.99 - std::sin(M_PI - 0.5) * 0.5, 1e-5);
  const double expected = softmax_ce({2.0, 10 * std::cos(std::acos(0.6) + 0.5), -4.0}, 1);
  EXPECT_NEAR(margin_softmax_loss(kCos, kLabel, MarginLoss::ArcFace, 10, 0.5).item<double>(), expected, 1e-4);
}

TEST(MarginSoftmax, CircleWeighsEachSimilarityByItsDistanceFromTheOptimum) {
  const double m = 0.25, s = 10;
  const torch::Tensor z = margin_logits(kCos, kLabel, MarginLoss::Circle, s, m);
  // true: [1 + m - 0.6]_+ (0.6 - (1 - m)) = 0.65 * -0.15; others: [c + m]_+ (c - m)
  EXPECT_NEAR(z[0][1].item<double>(), s * 0.65 * (0.6 - 0.75), 1e-5);
  EXPECT_NEAR(z[0][0].item<double>(), s * 0.45 * (0.2 - 0.25), 1e-5);
  EXPECT_NEAR(z[0][2].item<double>(), 0.0, 1e-6);  // [-0.4 + 0.25]_+ = 0
  EXPECT_THROW(parse_margin_loss("sphereface"), ConfigError);
}

TEST(MarginSoftmax, GradientsFlowOnlyThroughTheCosines) {
  torch::Tensor cos = kCos.clone().set_requires_grad(true);
  margin_softmax_loss(cos, kLabel, MarginLoss::Circle, 10, 0.25).backward();
  // Circle's weights are constants: d logit_y / d cos_y = s * [1 + m - cos_y]_+.
  torch::Tensor z = margin_logits(kCos, kLabel, MarginLoss::Circle, 10, 0.25);
  torch::Tensor p = torch::softmax(z, 1);
  EXPECT_NEAR(cos.grad()[0][1].item<double>(), (p[0][1].item<double>() - 1) * 10 * 0.65, 1e-5);
}

TEST(Regularizers, L2SpIsTheSquaredDistanceToTheStartingWeights) {
  torch::Tensor w = torch::tensor({1.0f, 2.0f}).set_requires_grad(true);
  torch::Tensor b = torch::tensor({{0.5f}}).set_requires_grad(true);
  const std::vector<torch::Tensor> anchors = {torch::tensor({0.0f, 4.0f}), torch::tensor({{0.0f}})};
  torch::Tensor pen = l2_sp_penalty({w, b}, anchors);
  EXPECT_NEAR(pen.item<double>(), 1.0 + 4.0 + 0.25, 1e-6);
  pen.backward();
  EXPECT_NEAR(w.grad()[0].item<double>(), 2.0, 1e-6);  // 2 (w - w0)
  EXPECT_NEAR(w.grad()[1].item<double>(), -4.0, 1e-6);
  EXPECT_NEAR(l2_sp_penalty({anchors[0]}, {anchors[0]}).item<double>(), 0.0, 1e-9);
  EXPECT_THROW(l2_sp_penalty({w}, {}), Error);
  EXPECT_THROW(l2_sp_penalty({w}, {torch::zeros({3})}), Error);
}

TEST(Regularizers, DistillationIsOneMinusCosineAndLeavesTheTeacherAlone) {
  torch::Tensor student = torch::tensor({{1.0f, 0.0f}, {0.0f, 2.0f}}).set_requires_grad(true);
  torch::Tensor teacher = torch::tensor({{1.0f, 1.0f}, {0.0f, 5.0f}}).set_requires_grad(true);
  torch::Tensor d = feature_distillation_loss(student, teacher);
  EXPECT_NEAR(d.item<double>(), ((1 - 1 / std::sqrt(2.0)) + 0.0) / 2, 1e-6);
  d.backward();
  EXPECT_FALSE(teacher.grad().defined());
  EXPECT_TRUE(student.grad().defined());
  EXPECT_THROW(feature_distillation_loss(student, torch::zeros({2, 3})), Error);
}

}  // namespace
}  // namespace toonreid
