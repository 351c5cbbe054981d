// WiSE-FT: a fine-tuned checkpoint's weights moved toward its starting network, checked
// weight by weight against w0 + alpha (w - w0) for each source of starting weights.
#include <gtest/gtest.h>

#include <torch/serialize/output-archive.h>

#include "core/config.h"
#include "core/error.h"
#include "model/model_checkpoint.h"
#include "model/weight_interpolation.h"
#include "test_util.h"
#include "toonreid_schema.h"

namespace toonreid {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kIds = {"a", "b", "c"};

// A checkpoint of `model`, optionally with the trainer's stored starting weights.
void save(ReidModel& model, const Config& c, const fs::path& file, ReidModel* start = nullptr) {
  torch::serialize::OutputArchive archive;
  write_model_part(archive, model, {c.to_yaml(), kIds, 4});
  if (start) {  // as the trainer keeps them: everything but the classifier
    std::map<std::string, torch::Tensor> weights;
    for (const auto& p : (*start)->named_parameters())
      if (p.key().rfind("head.classifier", 0) != 0) weights[p.key()] = p.value();
    for (const auto& b : (*start)->named_buffers()) weights[b.key()] = b.value();
    write_starting_weights(archive, weights);
  }
  archive.save_to(file.string());
}

void expect_interpolated(ReidModel out, ReidModel ft, ReidModel start, double alpha) {
  auto fp = ft->named_parameters(), sp = start->named_parameters();
  for (const auto& p : out->named_parameters()) {
    if (p.key().rfind("head.classifier", 0) == 0) {
      EXPECT_TRUE(torch::equal(p.value(), fp[p.key()])) << p.key();  // the fine-tuned classifier is kept
      continue;
    }
    const torch::Tensor want = sp[p.key()] + alpha * (fp[p.key()] - sp[p.key()]);
    EXPECT_TRUE(torch::allclose(p.value(), want, 1e-5, 1e-6)) << p.key();
  }
  auto fb = ft->named_buffers(), sb = start->named_buffers();
  for (const auto& b : out->named_buffers()) {
    if (!b.value().is_floating_point()) continue;
    EXPECT_TRUE(torch::allclose(b.value(), sb[b.key()] + alpha * (fb[b.key()] - sb[b.key()]), 1e-5, 1e-6)) << b.key();
  }
}

TEST(WeightInterpolation, MovesEveryWeightTowardTheStartButTheClassifier) {
  testing::TempDir dir;
  ConfigSchema schema = toonreid_schema();
  Config c = make_config(schema, {"model.backbone=resnet18", "model.pretrained=none"});
  torch::manual_seed(1);
  ReidModel start = build_model(c, 3);
  torch::manual_seed(2);
  ReidModel ft = build_model(c, 3);
  {
    torch::NoGradGuard no_grad;  // running statistics that differ too
    for (auto& b : ft->named_buffers())
      if (b.value().is_floating_point()) b.value().add_(0.5);
  }
  save(ft, c, dir / "ft_ref.pt", &start);
  save(start, c, dir / "start.pt");
  save(ft, c, dir / "ft_plain.pt");

  // The starting weights stored in the checkpoint.
  const InterpolationResult r = interpolate_checkpoint(dir / "ft_ref.pt", 0.25, dir / "wise.pt", schema);
  EXPECT_GT(r.interpolated, 10u);
  EXPECT_NE(r.start.find("stored starting weights"), std::string::npos) << r.start;
  LoadedModel wise = load_model_checkpoint(dir / "wise.pt", schema);
  EXPECT_EQ(wise.info.identities, kIds);
  expect_interpolated(wise.model, ft, start, 0.25);

  // A start checkpoint given explicitly; alpha 1 is the fine-tuned model itself.
  interpolate_checkpoint(dir / "ft_plain.pt", 0.6, dir / "wise2.pt", schema, dir / "start.pt");
  expect_interpolated(load_model_checkpoint(dir / "wise2.pt", schema).model, ft, start, 0.6);
  interpolate_checkpoint(dir / "ft_plain.pt", 1.0, dir / "same.pt", schema, dir / "start.pt");
  expect_interpolated(load_model_checkpoint(dir / "same.pt", schema).model, ft, ft, 1.0);
}

TEST(WeightInterpolation, RefusesWhatCannotBeInterpolated) {
  testing::TempDir dir;
  ConfigSchema schema = toonreid_schema();
  Config c = make_config(schema, {"model.backbone=resnet18", "model.pretrained=none"});
  ReidModel ft = build_model(c, 3);
  save(ft, c, dir / "ft.pt");
  const auto message = [&](const fs::path& start, double alpha) {
    try {
      interpolate_checkpoint(dir / "ft.pt", alpha, dir / "out.pt", schema, start);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // No stored start and model.pretrained none: nothing to interpolate with.
  EXPECT_NE(message({}, 0.5).find("model.pretrained is none"), std::string::npos) << message({}, 0.5);
  EXPECT_NE(message({}, 1.5).find("alpha must be in [0, 1]"), std::string::npos);
  // A start of another architecture.
  Config other = make_config(schema, {"model.backbone=resnet50", "model.pretrained=none"});
  ReidModel r50 = build_model(other, 3);
  save(r50, other, dir / "r50.pt");
  EXPECT_NE(message(dir / "r50.pt", 0.5).find("another architecture"), std::string::npos) << message(dir / "r50.pt", 0.5);
  EXPECT_NE(message(dir / "missing.pt", 0.5).find("missing.pt"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "out.pt"));
}

}  // namespace
}  // namespace toonreid
