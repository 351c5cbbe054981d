#include "data/loader.h"

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "core/config.h"
#include "core/error.h"
#include "data/image_io.h"
#include "test_util.h"

namespace toonreid {
namespace {

using testing::TempDir;

struct Fixture {
  TempDir dir;
  Dataset data;
  std::vector<int> labels;
  Fixture(int n = 12) {
    std::vector<ImageRecord> records;
    for (int i = 0; i < n; ++i) {
      auto path = dir / ("img" + std::to_string(i) + (i % 2 ? ".png" : ".jpg"));
      write_image(path, testing::test_pattern(40 + i, 50, i));
      records.push_back({path, "id" + std::to_string(i / 3), i % 2 ? Domain::Cartoon : Domain::Photo, "train"});
      labels.push_back(i / 3);
    }
    data = Dataset(std::move(records));
  }
};

TransformPipeline train_pipeline() {
  ConfigSchema s;
  add_input_options(s);
  return make_transforms(make_config(s, {"input.size=[32, 24]", "input.erasing.prob=0.5"}), true);
}

std::vector<Batch> run_epoch(BatchLoader& loader, std::vector<BatchIndices> batches, std::uint64_t epoch) {
  loader.start_epoch(std::move(batches), epoch);
  std::vector<Batch> out;
  while (auto b = loader.next()) out.push_back(std::move(*b));
  return out;
}

TEST(BatchLoader, ProducesBatchesInSamplerOrderWithLabelsAndDomains) {
  Fixture f;
  BatchLoader loader(f.data, f.labels, train_pipeline(), {2, 2, 5});
  std::vector<BatchIndices> batches = {{0, 1, 2, 3}, {11, 10}, {5, 6, 7}};
  auto out = run_epoch(loader, batches, 0);
  ASSERT_EQ(out.size(), 3u);
  for (std::size_t b = 0; b < out.size(); ++b) {
    EXPECT_EQ(out[b].indices, batches[b]);
    EXPECT_EQ(out[b].images.sizes(), (at::IntArrayRef{static_cast<long>(batches[b].size()), 3, 32, 24}));
    for (std::size_t i = 0; i < batches[b].size(); ++i) {
      EXPECT_EQ(out[b].labels[static_cast<long>(i)].item<int64_t>(), f.labels[batches[b][i]]);
      EXPECT_EQ(out[b].domains[static_cast<long>(i)].item<int64_t>(), static_cast<int64_t>(batches[b][i] % 2));
    }
    EXPECT_TRUE(at::isfinite(out[b].images).all().item<bool>());
  }
}

TEST(BatchLoader, SameOutputWhateverTheWorkerCount) {
  Fixture f;
  std::vector<BatchIndices> batches = {{0, 1, 2}, {3, 4, 5}, {6, 7, 8}, {9, 10, 11}, {2, 4, 6}};
  std::vector<std::vector<Batch>> results;
  for (int workers : {0, 1, 3}) {
    BatchLoader loader(f.data, f.labels, train_pipeline(), {workers, 2, 9});
    results.push_back(run_epoch(loader, batches, 4));
  }
  for (std::size_t r = 1; r < results.size(); ++r)
    for (std::size_t b = 0; b < batches.size(); ++b)
      EXPECT_TRUE(at::equal(results[0][b].images, results[r][b].images)) << "workers run " << r << " batch " << b;
  // A different epoch draws different augmentations.
  BatchLoader loader(f.data, f.labels, train_pipeline(), {1, 2, 9});
  auto other = run_epoch(loader, batches, 5);
  EXPECT_FALSE(at::equal(results[0][0].images, other[0].images));
}

TEST(BatchLoader, RestartingAnEpochDropsPendingBatches) {
  Fixture f;
  BatchLoader loader(f.data, f.labels, train_pipeline(), {2, 3, 0});
  loader.start_epoch({{0}, {1}, {2}, {3}}, 0);
  ASSERT_TRUE(loader.next().has_value());
  auto out = run_epoch(loader, {{5, 6}}, 1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].indices, (BatchIndices{5, 6}));
}

TEST(BatchLoader, UnreadableImageRaisesDataErrorNamingTheFile) {
  Fixture f;
  testing::write_text(f.data[4].path, "corrupted");
  for (int workers : {0, 2}) {
    BatchLoader loader(f.data, f.labels, train_pipeline(), {workers, 2, 0});
    loader.start_epoch({{0, 1}, {3, 4}, {5}}, 0);
    ASSERT_TRUE(loader.next().has_value());
    try {
      loader.next();
      FAIL() << "expected a DataError";
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(f.data[4].path.filename().string()), std::string::npos) << e.what();
    }
  }
}

TEST(BatchLoader, OptionsComeFromConfig) {
  ConfigSchema s;
  add_loader_options(s);
  s.add_int("run.seed", 0, "seed");  // (declared by other sections in the real schema)
  s.add_int("input.max_pixels", 0, "pixel limit");
  Config c = make_config(s, {"loader.workers=3", "loader.prefetch=7", "run.seed=11", "input.max_pixels=5000"});
  LoaderOptions o = loader_options(c);
  EXPECT_EQ(o.workers, 3);
  EXPECT_EQ(o.prefetch, 7);
  EXPECT_EQ(o.seed, 11u);
  EXPECT_EQ(o.max_pixels, 5000);
}

}  // namespace
}  // namespace toonreid
