#include "model/reid_model.h"

#include <gtest/gtest.h>

#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include "core/config.h"
#include "core/error.h"
#include "model/model_checkpoint.h"
#include "test_util.h"
#include "toonreid_schema.h"

namespace toonreid {
namespace {

ConfigSchema model_schema() {
  ConfigSchema s;
  add_model_options(s);
  return s;
}

TEST(ReidModel, BuildsFromConfigAndEmbeds) {
  ConfigSchema schema = model_schema();
  Config c = make_config(schema, {"model.backbone=resnet18", "model.pretrained=none", "model.pooling=gem"});
  ReidModel m = build_model(c, 7);
  m->train();
  HeadOutput out = m->forward(torch::randn({4, 3, 64, 32}));
  EXPECT_EQ(out.logits.sizes(), (torch::IntArrayRef{4, 7}));
  EXPECT_EQ(out.pooled.sizes(), (torch::IntArrayRef{4, 512}));
  m->eval();
  torch::NoGradGuard no_grad;
  EXPECT_EQ(m->embed(torch::randn({2, 3, 64, 32})).sizes(), (torch::IntArrayRef{2, 512}));
}

TEST(ReidModel, FrozenStagesDoNotChange) {
  ConfigSchema schema = model_schema();
  ReidModel m = build_model(make_config(schema, {"model.backbone=resnet18", "model.pretrained=none"}), 3);
  m->freeze_stages(2);
  m->train();
  auto snapshot = [&](int stage) {
    std::vector<torch::Tensor> v;
    for (auto& mod : m->backbone().stage(stage)) {
      for (auto& p : mod->parameters()) v.push_back(p.detach().clone());
      for (auto& b : mod->buffers()) v.push_back(b.detach().clone());
    }
    return v;
  };
  auto before0 = snapshot(0), before1 = snapshot(1), before3 = snapshot(3);
  std::vector<torch::Tensor> trainable;
  for (auto& p : m->parameters()) if (p.requires_grad()) trainable.push_back(p);
  torch::optim::SGD opt(trainable, torch::optim::SGDOptions(0.1));
  for (int i = 0; i < 2; ++i) {
    opt.zero_grad();
    HeadOutput out = m->forward(torch::randn({4, 3, 64, 32}));
    out.logits.pow(2).mean().backward();
    opt.step();
  }
  auto same = [](const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
    for (std::size_t i = 0; i < a.size(); ++i) if (!torch::equal(a[i], b[i])) return false;
    return true;
  };
  EXPECT_TRUE(same(before0, snapshot(0)));  // weights and BatchNorm statistics untouched
  EXPECT_TRUE(same(before1, snapshot(1)));
  EXPECT_FALSE(same(before3, snapshot(3)));  // a trainable stage moved
  m->freeze_stages(0);
  for (auto& p : m->backbone().parameters()) EXPECT_TRUE(p.requires_grad());
  EXPECT_THROW(m->freeze_stages(6), ConfigError);
}

TEST(ReidModel, MissingPretrainedWeightsAreAConfigError) {
  ConfigSchema schema = model_schema();
  Config c = make_config(schema, {"model.backbone=resnet18", "model.pretrained=/nonexistent/r18.pth"});
  try {
    build_model(c, 2);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model.pretrained"), std::string::npos);
  }
}

TEST(ReidModel, InitialisesFromAnotherRunsCheckpoint) {
  // A checkpoint trained for 5 identities starts a model for 7: everything but the
  // classifier is copied.
  testing::TempDir dir;
  ConfigSchema schema = toonreid_schema();
  Config c = make_config(schema, {"model.backbone=resnet18", "model.pretrained=none"});
  torch::manual_seed(1);
  ReidModel source = build_model(c, 5);
  {
    torch::serialize::OutputArchive archive;
    write_model_part(archive, source, {c.to_yaml(), {"a", "b", "c", "d", "e"}, 3});
    archive.save_to((dir / "stage1.pt").string());
  }
  torch::manual_seed(2);
  ReidModel target = build_model(c, 7);
  const auto skipped = init_from_checkpoint(target, dir / "stage1.pt", schema);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("classifier"), std::string::npos) << skipped[0];
  auto sp = source->named_parameters(), tp = target->named_parameters();
  for (const auto& p : tp) {
    if (p.key().find("classifier") != std::string::npos) continue;
    EXPECT_TRUE(torch::equal(p.value(), sp[p.key()])) << p.key();
  }
  auto sb = source->named_buffers();
  for (const auto& b : target->named_buffers()) EXPECT_TRUE(torch::equal(b.value(), sb[b.key()])) << b.key();
  // Another backbone family: no parameter fits.
  ReidModel other = build_model(make_config(schema, {"model.backbone=dlib_resnet", "model.pretrained=none"}), 7);
  EXPECT_THROW(init_from_checkpoint(other, dir / "stage1.pt", schema), Error);
  EXPECT_THROW(init_from_checkpoint(target, dir / "missing.pt", schema), Error);
}

}  // namespace
}  // namespace toonreid
