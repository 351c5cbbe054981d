// Combining views of an image (aligned chip, whole image) into one embedding.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "core/error.h"
#include "retrieval/features.h"

namespace toonreid {
namespace {

TEST(CombineViews, AverageAndConcatOfUnitViews) {
  const torch::Tensor a = torch::tensor({{3.0f, 0.0f}, {0.0f, 1.0f}});
  const torch::Tensor b = torch::tensor({{0.0f, 2.0f}, {0.0f, 5.0f}});
  const torch::Tensor avg = combine_views({a, b}, ViewCombination::Average);
  // Row 0: (1, 0) and (0, 1) averaged -> (0.5, 0.5), normalised -> (0.7071, 0.7071).
  EXPECT_NEAR(avg[0][0].item<double>(), 0.70710678, 1e-6);
  EXPECT_NEAR(avg[0][1].item<double>(), 0.70710678, 1e-6);
  EXPECT_NEAR(avg[1][1].item<double>(), 1.0, 1e-6);  // the same direction twice
  const torch::Tensor cat = combine_views({a, b}, ViewCombination::Concat);
  ASSERT_EQ(cat.sizes(), (torch::IntArrayRef{2, 4}));
  EXPECT_NEAR(cat[0][0].item<double>(), 0.70710678, 1e-6);
  EXPECT_NEAR(cat[0][3].item<double>(), 0.70710678, 1e-6);
  EXPECT_NEAR(cat.norm(2, 1)[1].item<double>(), 1.0, 1e-6);
  EXPECT_THROW(combine_views({a, torch::zeros({3, 2})}, ViewCombination::Average), Error);
  EXPECT_THROW(combine_views({}, ViewCombination::Concat), Error);
}

}  // namespace
}  // namespace toonreid
