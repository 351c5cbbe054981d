#include "data/synth/synth_dataset.h"

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "data/image_io.h"
#include "data/synth/face_params.h"
#include "eval/cross_domain.h"
#include "test_util.h"

namespace toonreid {
namespace {

using testing::TempDir;

bool same(const cv::Mat& a, const cv::Mat& b) { return a.size() == b.size() && cv::norm(a, b, cv::NORM_INF) == 0; }

TEST(Synth, RenderingIsDeterministicPerSeed) {
  synth::SynthOptions o;
  o.size = 96;
  o.seed = 5;
  for (Domain d : {Domain::Photo, Domain::Cartoon}) {
    cv::Mat a = synth::render_sample(o, 3, d, 1), b = synth::render_sample(o, 3, d, 1);
    EXPECT_EQ(a.size(), cv::Size(96, 96));
    EXPECT_TRUE(same(a, b));
    EXPECT_FALSE(same(a, synth::render_sample(o, 3, d, 2)));  // another picture of the person
    EXPECT_FALSE(same(a, synth::render_sample(o, 4, d, 1)));  // another person
  }
  synth::SynthOptions other = o;
  other.seed = 6;
  EXPECT_FALSE(same(synth::render_sample(o, 3, Domain::Photo, 1), synth::render_sample(other, 3, Domain::Photo, 1)));
}

TEST(Synth, ExaggerationMovesAwayFromTheMeanFace) {
  Rng rng(3);
  synth::FaceParams f = synth::sample_identity(rng);
  synth::FaceParams c = synth::exaggerate(f, 1.0);
  const auto& ranges = synth::geometry_ranges();
  for (int g = 0; g < synth::kGeometryCount; ++g) {
    double mean = 0.5 * (ranges[g].lo + ranges[g].hi);
    EXPECT_GE(std::abs(c.geometry[g] - mean) + 1e-12, std::abs(f.geometry[g] - mean) * 0.999) << g;
  }
  synth::FaceParams none = synth::exaggerate(f, 0.0);
  for (int g = 0; g < synth::kGeometryCount; ++g) EXPECT_NEAR(none.geometry[g], f.geometry[g], 1e-12);
}

TEST(Synth, WritesTheWebCaricatureLayoutSameBytesForAnyThreadCount) {
  TempDir dir;
  synth::SynthOptions o;
  o.identities = 5;
  o.photos = 2;
  o.cartoons = 3;
  o.size = 64;
  o.seed = 9;
  o.threads = 1;
  Dataset a = synth::generate(o, dir / "a");
  o.threads = 3;
  Dataset b = synth::generate(o, dir / "b");
  ASSERT_EQ(a.size(), 25u);
  ASSERT_EQ(b.size(), 25u);
  EXPECT_TRUE(std::filesystem::exists(dir / "a/images/Toon_0001/P00001.jpg"));
  EXPECT_TRUE(std::filesystem::exists(dir / "a/images/Toon_0005/C00003.jpg"));
  EXPECT_TRUE(std::filesystem::exists(dir / "a/synth.json"));
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(same(read_image(a[i].path), read_image(b[i].path))) << i;
  // Identity-disjoint splits that cover everyone.
  auto train = make_labels(a.split("train")).names, test = make_labels(a.split("test")).names;
  EXPECT_EQ(train.size() + test.size(), 5u);
  for (const auto& id : train) EXPECT_EQ(std::count(test.begin(), test.end(), id), 0);
  EXPECT_THROW(synth::generate(o, dir / "a"), Error);  // refuses to overwrite
  o.identities = 1;
  EXPECT_THROW(synth::generate(o, dir / "c"), Error);
}

// --- The task is neither trivial nor impossible ------------------------------------
// Raw pixels must retrieve poorly across domains, while even a simple model trained on
// the training identities (PCA + LDA on small images) must do clearly better.

at::Tensor pixel_features(const Dataset& d) {
  std::vector<at::Tensor> rows;
  ImageDecoder decoder;
  for (const auto& r : d.records()) {
    cv::Mat img = decoder.read(r.path), small, f;
    cv::resize(img, small, cv::Size(24, 24), 0, 0, cv::INTER_AREA);
    small.convertTo(f, CV_32FC3);
    at::Tensor t = at::from_blob(f.data, {24 * 24 * 3}, at::kFloat).clone();
    rows.push_back((t - t.mean()) / (t.std() + 1e-6));
  }
  return at::stack(rows);
}

RetrievalMetrics c2p(const at::Tensor& features, const Dataset& d) {
  return evaluate_cross_domain(features, d, DistanceKind::Cosine).c2p;
}

TEST(Synth, TaskIsNotTrivialAndNotImpossible) {
  TempDir dir;
  synth::SynthOptions o;
  o.identities = 60;
  o.photos = 6;
  o.cartoons = 6;
  o.size = 64;
  o.seed = 1;
  o.test_fraction = 0.5;
  Dataset all = synth::generate(o, dir / "synth");
  Dataset train = all.split("train"), test = all.split("test");
  LabelMap train_labels = make_labels(train);

  at::Tensor x_train = pixel_features(train), x_test = pixel_features(test);
  RetrievalMetrics raw = c2p(x_test, test);

  // PCA to 100 dimensions, then LDA (whitened within-class scatter, between-class eigenvectors).
  at::Tensor mean = x_train.mean(0, true);
  at::Tensor centred = x_train - mean;
  auto svd = at::linalg_svd(centred, false);
  at::Tensor pca = std::get<2>(svd).slice(0, 0, 100).t();  // [D, 100]
  at::Tensor z = at::mm(centred, pca);
  const int classes = static_cast<int>(train_labels.names.size());
  at::Tensor label_t = at::tensor(std::vector<long>(train_labels.record_labels.begin(), train_labels.record_labels.end()));
  at::Tensor class_means = at::zeros({classes, z.size(1)});
  class_means.index_add_(0, label_t, z);
  class_means /= at::bincount(label_t).to(at::kFloat).unsqueeze(1);
  at::Tensor within = z - class_means.index_select(0, label_t);
  at::Tensor sw = at::mm(within.t(), within) / z.size(0) + 1e-3 * at::eye(z.size(1));
  at::Tensor sb = at::mm(class_means.t(), class_means) / classes;
  auto [evals_w, evecs_w] = at::linalg_eigh(sw);
  at::Tensor whiten = evecs_w * evals_w.rsqrt().unsqueeze(0);
  auto [evals_b, evecs_b] = at::linalg_eigh(at::mm(at::mm(whiten.t(), sb), whiten));
  at::Tensor lda = at::mm(whiten, evecs_b.flip(1).slice(1, 0, classes - 1));
  at::Tensor projected = at::mm(at::mm(x_test - mean, pca), lda);
  RetrievalMetrics learned = c2p(projected, test);

  // Chance level: about 6 true photos among 180.
  std::printf("C2P mAP: raw pixels %.3f, PCA+LDA %.3f (rank-1 %.3f vs %.3f)\n", raw.mAP, learned.mAP, raw.rank(1),
              learned.rank(1));
  EXPECT_LT(raw.mAP, 0.35) << "raw pixels retrieve too well: the task is trivial";
  EXPECT_GT(learned.mAP, raw.mAP * 1.5) << "a trained model barely beats raw pixels: the task may be impossible";
  EXPECT_GT(learned.rank(1), raw.rank(1));
}

}  // namespace
}  // namespace toonreid
