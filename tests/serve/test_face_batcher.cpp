// FaceBatcher: concurrent pictures embedded together give each request what it would get
// alone; a bad picture fails only itself; a lone picture pays no batching window.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <chrono>
#include <future>
#include <thread>

#include "core/config.h"
#include "core/error.h"
#include "data/image_io.h"
#include "data/synth/synth_dataset.h"
#include "serve/face_batcher.h"
#include "test_util.h"
#include "toonreid_schema.h"

namespace toonreid {
namespace {

class FaceBatcherTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    synth::SynthOptions so;
    so.identities = 2, so.photos = 2, so.cartoons = 1, so.size = 96, so.seed = 3;
    const Dataset data = synth::generate(so, dir_->path() / "toons");
    for (const auto& r : data.records()) pictures_.push_back(read_image(r.path));
    schema_ = new ConfigSchema(toonreid_schema());
    config_ = new Config(load_config(*schema_, testing::source_dir() + "/configs/synth_demo.yaml", {}));
    embedder_ = new Embedder(*config_, "");
  }
  static void TearDownTestSuite() {
    delete embedder_;
    delete config_;
    delete schema_;
    delete dir_;
    pictures_.clear();
  }
  static double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  }
  static testing::TempDir* dir_;
  static ConfigSchema* schema_;
  static Config* config_;
  static Embedder* embedder_;
  static std::vector<cv::Mat> pictures_;
};

testing::TempDir* FaceBatcherTest::dir_ = nullptr;
ConfigSchema* FaceBatcherTest::schema_ = nullptr;
Config* FaceBatcherTest::config_ = nullptr;
Embedder* FaceBatcherTest::embedder_ = nullptr;
std::vector<cv::Mat> FaceBatcherTest::pictures_;

TEST_F(FaceBatcherTest, AnnouncedPicturesShareOneBatchAndGetWhatTheyWouldAlone) {
  ASSERT_EQ(pictures_.size(), 6u);
  FaceBatcher batcher(*embedder_, 60'000, 16);  // a window no test waits out
  std::vector<std::unique_ptr<FaceBatcher::Announcement>> coming;
  for (std::size_t i = 0; i < pictures_.size(); ++i) coming.push_back(std::make_unique<FaceBatcher::Announcement>(batcher));
  std::vector<std::future<EmbeddedFaces>> results;
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < pictures_.size(); ++i)
    results.push_back(std::async(std::launch::async, [&, i] { return batcher.run(pictures_[i], {}, coming[i].get()); }));
  for (std::size_t i = 0; i < pictures_.size(); ++i) {
    const EmbeddedFaces batched = results[i].get();
    const EmbeddedFaces alone = embed_faces(*embedder_, pictures_[i], {});
    ASSERT_EQ(batched.faces.size(), alone.faces.size());
    ASSERT_EQ(batched.embeddings.sizes(), alone.embeddings.sizes());
    EXPECT_LT((batched.embeddings - alone.embeddings).abs().max().item<float>(), 1e-4f) << "picture " << i;
  }
  EXPECT_EQ(batcher.batches(), 1u) << "the six announced pictures were not embedded together";
  EXPECT_LT(seconds_since(start), 30.0) << "the batch waited for the window instead of the announced pictures";
}

TEST_F(FaceBatcherTest, ALonePictureAndAnAbandonedAnnouncementPayNoWindow) {
  FaceBatcher batcher(*embedder_, 60'000, 16);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(batcher.run(pictures_[0], {}).embeddings.size(0), 1);
  EXPECT_LT(seconds_since(start), 30.0);
  // A request announced, then failed before handing its picture over (it did not decode):
  // the other picture is not kept waiting for it.
  start = std::chrono::steady_clock::now();
  auto abandoned = std::make_unique<FaceBatcher::Announcement>(batcher);
  auto other = std::async(std::launch::async, [&] { return batcher.run(pictures_[1], {}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  abandoned.reset();
  EXPECT_EQ(other.get().embeddings.size(0), 1);
  EXPECT_LT(seconds_since(start), 30.0);
}

TEST_F(FaceBatcherTest, ABadPictureFailsOnlyItself) {
  FaceBatcher batcher(*embedder_, 60'000, 16);
  FaceBatcher::Announcement a(batcher), b(batcher), c(batcher);
  const cv::Mat gray(64, 64, CV_8UC1, cv::Scalar(128));  // not 8-bit RGB
  auto good1 = std::async(std::launch::async, [&] { return batcher.run(pictures_[0], {}, &a); });
  auto bad = std::async(std::launch::async, [&] { return batcher.run(gray, {}, &b); });
  auto good2 = std::async(std::launch::async, [&] { return batcher.run(pictures_[1], {}, &c); });
  EXPECT_EQ(good1.get().embeddings.size(0), 1);
  EXPECT_THROW(bad.get(), DataError);
  EXPECT_EQ(good2.get().embeddings.size(0), 1);
}

}  // namespace
}  // namespace toonreid
