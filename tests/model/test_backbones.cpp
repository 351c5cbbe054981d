#include <gtest/gtest.h>

#include <torch/nn/init.h>
#include <torch/utils.h>

#include "core/error.h"
#include "model/backbone.h"
#include "model/embedding_head.h"

namespace toonreid {
namespace {

int64_t count_parameters(torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

bool has_key(torch::nn::Module& m, const std::string& key) {
  for (const auto& item : m.named_parameters()) if (item.key() == key) return true;
  for (const auto& item : m.named_buffers()) if (item.key() == key) return true;
  return false;
}

TEST(Backbones, ParameterCountsMatchTorchvisionWithoutTheClassifier) {
  // torchvision totals minus the 1000-class fc layer.
  const std::map<std::string, int64_t> expected = {{"resnet18", 11689512 - 513000},
                                                   {"resnet34", 21797672 - 513000},
                                                   {"resnet50", 25557032 - 2049000},
                                                   {"resnet101", 44549160 - 2049000},
                                                   {"resnet50_ibn_a", 25557032 - 2049000}};
  for (const auto& [name, count] : expected) {
    auto b = make_backbone({name, 1});
    EXPECT_EQ(count_parameters(*b), count) << name;
  }
}

TEST(Backbones, NamesFollowTorchvisionAndIbnNet) {
  auto r50 = make_backbone({"resnet50", 2});
  for (const char* key : {"conv1.weight", "bn1.running_mean", "layer1.0.conv3.weight", "layer1.0.downsample.0.weight",
                          "layer1.0.downsample.1.running_var", "layer4.2.bn3.bias"})
    EXPECT_TRUE(has_key(*r50, key)) << key;
  auto ibn = make_backbone({"resnet50_ibn_a", 1});
  for (const char* key : {"layer1.0.bn1.IN.weight", "layer1.0.bn1.BN.running_mean", "layer3.5.bn1.IN.bias",
                          "layer4.0.bn1.weight"})
    EXPECT_TRUE(has_key(*ibn, key)) << key;
  EXPECT_FALSE(has_key(*ibn, "layer4.0.bn1.IN.weight"));  // stage 4 keeps plain BatchNorm
}

TEST(Backbones, LastStrideOneDoublesTheFinalMap) {
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::randn({2, 3, 128, 64});
  auto s2 = make_backbone({"resnet18", 2}), s1 = make_backbone({"resnet18", 1});
  s2->eval();
  s1->eval();
  EXPECT_EQ(s2->forward(x).sizes(), (torch::IntArrayRef{2, 512, 4, 2}));
  EXPECT_EQ(s1->forward(x).sizes(), (torch::IntArrayRef{2, 512, 8, 4}));
  auto ibn = make_backbone({"resnet50_ibn_a", 1});
  ibn->eval();
  EXPECT_EQ(ibn->forward(x).sizes(), (torch::IntArrayRef{2, 2048, 8, 4}));
  EXPECT_EQ(ibn->out_channels(), 2048);
}

TEST(Backbones, UnknownNamesAndStridesAreConfigErrors) {
  EXPECT_THROW(make_backbone({"vgg16", 1}), ConfigError);
  EXPECT_THROW(make_backbone({"resnet50", 3}), ConfigError);
  auto r = make_backbone({"resnet18", 1});
  EXPECT_EQ(r->num_stages(), 5);
  EXPECT_EQ(r->stage(0).size(), 2u);
  EXPECT_THROW(r->stage(5), std::out_of_range);
}

TEST(EmbeddingHead, BNNeckHasAFrozenZeroBiasAndUsesBatchStatisticsWhenTraining) {
  EmbeddingHead head(8, 5, Pooling::Average, NeckFeature::AfterBN);
  torch::Tensor bias;
  for (const auto& p : head->named_parameters())
    if (p.key() == "bnneck.bias") bias = p.value();
  ASSERT_TRUE(bias.defined());
  EXPECT_FALSE(bias.requires_grad());
  EXPECT_EQ(bias.abs().sum().item<float>(), 0.0f);

  torch::Tensor maps = torch::randn({16, 8, 4, 4}) * 3 + 2;
  head->train();
  HeadOutput train = head->forward(maps);
  EXPECT_EQ(train.logits.sizes(), (torch::IntArrayRef{16, 5}));
  // Training mode normalises with the batch's own statistics: zero mean per channel.
  EXPECT_LT(train.normalized.mean(0).abs().max().item<float>(), 1e-4);
  // A backward pass leaves the frozen bias without a gradient.
  train.logits.sum().backward();
  EXPECT_FALSE(bias.grad().defined());

  head->eval();
  HeadOutput test = head->forward(maps);
  // Eval mode uses running statistics (momentum 0.1 of one batch): no longer centred.
  EXPECT_GT(test.normalized.mean(0).abs().max().item<float>(), 0.1);
  EXPECT_TRUE(torch::equal(head->embedding(test), test.normalized));
  EmbeddingHead before(8, 0, Pooling::Average, NeckFeature::BeforeBN);
  before->eval();
  HeadOutput b = before->forward(maps);
  EXPECT_TRUE(torch::equal(before->embedding(b), b.pooled));
  EXPECT_FALSE(b.logits.defined());
}

TEST(EmbeddingHead, GeMWithPOneIsAveragePooling) {
  torch::Tensor maps = torch::rand({3, 4, 5, 5}) + 0.1;
  EmbeddingHead gem(4, 0, Pooling::GeM, NeckFeature::BeforeBN, 1.0), avg(4, 0, Pooling::Average, NeckFeature::BeforeBN);
  gem->eval();
  avg->eval();
  EXPECT_TRUE(torch::allclose(gem->forward(maps).pooled, avg->forward(maps).pooled, 1e-5, 1e-5));
  EmbeddingHead gem3(4, 0, Pooling::GeM, NeckFeature::BeforeBN, 3.0);
  gem3->eval();
  // GeM with p > 1 lies between the mean and the max.
  torch::Tensor g = gem3->forward(maps).pooled, mean = maps.mean({2, 3}), max = maps.amax({2, 3});
  EXPECT_TRUE((g >= mean - 1e-5).all().item<bool>());
  EXPECT_TRUE((g <= max + 1e-5).all().item<bool>());
}

}  // namespace
}  // namespace toonreid
