#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "retrieval/distance.h"
#include "retrieval/ensemble.h"
#include "retrieval/matrix_io.h"
#include "retrieval/query_expansion.h"
#include "test_util.h"

namespace toonreid {
namespace {

TEST(Distance, HandComputedKinds) {
  torch::Tensor q = torch::tensor({3.0f, 4.0f}).view({1, 2}), g = torch::tensor({6.0f, 8.0f, 0.0f, 1.0f, -3.0f, -4.0f}).view({3, 2});
  torch::Tensor e = pairwise_distances(q, g, DistanceKind::Euclidean);
  torch::Tensor c = pairwise_distances(q, g, DistanceKind::Cosine);
  torch::Tensor a = pairwise_distances(q, g, DistanceKind::Angular);
  EXPECT_NEAR(e[0][0].item<float>(), 5.0, 1e-4);
  EXPECT_NEAR(e[0][1].item<float>(), std::sqrt(9.0 + 9.0), 1e-4);
  EXPECT_NEAR(c[0][0].item<float>(), 0.0, 1e-6);
  EXPECT_NEAR(c[0][1].item<float>(), 1 - 0.8, 1e-6);
  EXPECT_NEAR(c[0][2].item<float>(), 2.0, 1e-6);
  EXPECT_NEAR(a[0][1].item<float>(), std::acos(0.8), 1e-4);
  EXPECT_NEAR(a[0][2].item<float>(), M_PI, 1e-3);
  for (DistanceKind k : {DistanceKind::Euclidean, DistanceKind::Cosine, DistanceKind::Angular})
    EXPECT_NEAR(pair_distance(q.data_ptr<float>(), g.data_ptr<float>() + 2, 2, k),
                pairwise_distances(q, g, k)[0][1].item<float>(), 1e-4);
  EXPECT_THROW(parse_distance("manhattan"), Error);
  EXPECT_EQ(parse_distance(distance_name(DistanceKind::Angular)), DistanceKind::Angular);
  EXPECT_THROW(pairwise_distances(q, torch::zeros({2, 3}), DistanceKind::Euclidean), Error);
}

TEST(Distance, BlocksCoverEveryRowOnce) {
  torch::manual_seed(1);
  torch::Tensor q = torch::randn({37, 8}), g = torch::randn({11, 8});
  torch::Tensor full = torch::cdist(q, g);
  torch::Tensor seen = torch::zeros({37, 11});
  int blocks = 0;
  for_each_distance_block(q, g, DistanceKind::Euclidean, 10, [&](int64_t start, const torch::Tensor& b) {
    seen.narrow(0, start, b.size(0)).copy_(b);
    ++blocks;
  });
  EXPECT_EQ(blocks, 4);
  EXPECT_TRUE(torch::allclose(seen, full, 1e-4, 1e-4));
}

TEST(Ensemble, WeightsAndNormalisation) {
  torch::Tensor a = torch::tensor({0.0f, 1.0f, 2.0f, 3.0f}).view({2, 2});
  torch::Tensor b = torch::tensor({10.0f, 30.0f, 20.0f, 10.0f}).view({2, 2});
  // Raw, weights 3:1 -> (3a + b) / 4.
  EXPECT_TRUE(torch::allclose(combine_distances({a, b}, {3, 1}, MatrixNormalization::None), (3 * a + b) / 4));
  // Min-max: a -> a / 3, b -> (b - 10) / 20; equal weights.
  torch::Tensor mm = combine_distances({a, b}, {}, MatrixNormalization::MinMax);
  EXPECT_TRUE(torch::allclose(mm, (a / 3 + (b - 10) / 20) / 2, 1e-6, 1e-6));
  torch::Tensor z = combine_distances({a}, {}, MatrixNormalization::ZScore);
  EXPECT_NEAR(z.mean().item<float>(), 0.0, 1e-6);
  EXPECT_NEAR(z.std().item<float>(), 1.0, 1e-5);
  // A zero weight removes a model.
  EXPECT_TRUE(torch::allclose(combine_distances({a, b}, {1, 0}, MatrixNormalization::None), a));
  EXPECT_THROW(combine_distances({a, b}, {1}, MatrixNormalization::None), Error);
  EXPECT_THROW(combine_distances({a, torch::zeros({3, 2})}, {}, MatrixNormalization::None), Error);
  EXPECT_THROW(combine_distances({a, b}, {-1, 2}, MatrixNormalization::None), Error);
  EXPECT_THROW(parse_normalization("rank"), Error);
  // Concatenated features: squared distance = weighted sum of the models' squared distances.
  torch::manual_seed(2);
  torch::Tensor f1 = torch::randn({5, 4}), f2 = torch::randn({5, 3});
  auto unit = [](const torch::Tensor& x) { return x / x.norm(2, 1, true); };
  torch::Tensor cat = combine_features({f1, f2}, {1, 3});
  torch::Tensor expect = 0.25 * torch::cdist(unit(f1), unit(f1)).pow(2) + 0.75 * torch::cdist(unit(f2), unit(f2)).pow(2);
  EXPECT_TRUE(torch::allclose(torch::cdist(cat, cat).pow(2), expect, 1e-4, 1e-4));
}

TEST(QueryExpansion, PullsQueriesTowardsTheirNeighbours) {
  torch::Tensor g = torch::tensor({1.0f, 0.0f, 0.0f, 1.0f}).view({2, 2});
  torch::Tensor q = torch::tensor({0.8f, 0.6f}).view({1, 2});
  // k = 1, alpha = 0: q' = normalise(q + g0) (g0 is the nearest).
  torch::Tensor e = expand_queries(q, g, {1, 0.0});
  torch::Tensor expect = torch::tensor({1.8f, 0.6f}).view({1, 2});
  EXPECT_TRUE(torch::allclose(e, expect / expect.norm(), 1e-5, 1e-5));
  // alpha weights: sim(q, g0) = 0.8, sim(q, g1) = 0.6 with k = 2, alpha = 1.
  torch::Tensor e2 = expand_queries(q, g, {2, 1.0});
  torch::Tensor expect2 = torch::tensor({0.8f + 0.8f, 0.6f + 0.6f}).view({1, 2});
  EXPECT_TRUE(torch::allclose(e2, expect2 / expect2.norm(), 1e-5, 1e-5));
  EXPECT_THROW(expand_queries(q, g, {0, 1.0}), Error);
}

TEST(MatrixIO, NpyAndBinaryRoundTrip) {
  testing::TempDir dir;
  torch::Tensor t = torch::randn({3, 5});
  for (const char* name : {"d.npy", "d.trm"}) {
    write_matrix(dir / name, t);
    EXPECT_TRUE(torch::equal(read_matrix(dir / name), t)) << name;
  }
  torch::Tensor big = torch::randn({2, 3, 4});
  write_matrix(dir / "cube.bin", big);
  EXPECT_TRUE(torch::equal(read_matrix(dir / "cube.bin"), big));
  // The documented header.
  std::ifstream in(dir / "d.trm", std::ios::binary);
  char header[32];
  in.read(header, 32);
  EXPECT_EQ(std::string(header, 7), "TOONMAT");
  EXPECT_EQ(header[7], 1);
  EXPECT_EQ(header[8], 1);   // float32
  EXPECT_EQ(header[12], 2);  // 2-D
  EXPECT_EQ(header[16], 3);
  EXPECT_EQ(header[24], 5);
  EXPECT_EQ(std::filesystem::file_size(dir / "d.trm"), 32u + 15 * 4);
  // Truncated and foreign files name themselves.
  testing::write_text(dir / "short.trm", std::string(header, 20));
  EXPECT_THROW(read_matrix(dir / "short.trm"), DataError);
  testing::write_text(dir / "junk.trm", "not a matrix at all, really not");
  try {
    read_matrix(dir / "junk.trm");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("junk.trm"), std::string::npos);
  }
}

}  // namespace
}  // namespace toonreid
