// The tfjs graph importer is exact: MobileFaceNet's and HSE FaceRes's outputs match what
// tfjs itself computed in Node (tools/faceapi_reference/make_graph_reference.js) for the
// chips in tests/fixtures/graph_nets; with TOONREID_GRAPH_REFERENCE_DIR set, the same check
// runs on another folder of chips and its reference.json (real faces, e.g. CaVI chips).
// The imported networks train like any backbone; bad graph files are refused by name.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>

#include "core/config.h"
#include "core/error.h"
#include "data/image_io.h"
#include "model/graph_backbones.h"
#include "model/reid_model.h"
#include "model/tfjs_graph.h"
#include "test_util.h"
#include "toonreid_schema.h"

namespace toonreid {
namespace {

namespace fs = std::filesystem;

fs::path models_folder() { return default_human_models_folder(testing::source_dir()); }

bool have_models() { return fs::exists(models_folder() / "mobilefacenet.json") && fs::exists(models_folder() / "faceres.json"); }

// A chip as the graph receives it in make_graph_reference.js (RGB; MobileFaceNet
// (x - 127.5) / 128, FaceRes 0..255): the reference checks the graph, whatever the
// backbone's default normalisation, [1, 3, S, S].
torch::Tensor to_input(const cv::Mat& rgb, const std::string& backbone) {
  torch::Tensor x = torch::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, torch::kUInt8).to(torch::kFloat);
  if (backbone == "mobilefacenet") x = (x - 127.5f) / 128.0f;
  return x.permute({2, 0, 1}).unsqueeze(0).contiguous();
}

void expect_matches_tfjs(const fs::path& folder) {
  std::ifstream file(folder / "reference.json");
  ASSERT_TRUE(file) << folder / "reference.json";
  const nlohmann::json reference = nlohmann::json::parse(file);
  ASSERT_EQ(reference["networks"].size(), 2u);
  torch::NoGradGuard no_grad;
  for (const auto& net : reference["networks"]) {
    const GraphNetworkSpec* spec = graph_network_spec(net["backbone"]);
    ASSERT_NE(spec, nullptr);
    GraphBackbone backbone(*spec, {}, false);
    backbone.eval();
    double worst = 0, worst_relative = 0;
    ASSERT_GE(net["images"].size(), 1u);
    for (const auto& item : net["images"]) {
      const torch::Tensor x = to_input(read_image(folder / item["file"].get<std::string>()), spec->backbone);
      const torch::Tensor pooled = backbone.forward(x).mean({2, 3}).squeeze(0);
      const std::string node = spec->backbone == "mobilefacenet" ? "MobileFaceNet/Logits/SpatialSqueeze" : "global_pooling/Mean";
      const torch::Tensor expected = torch::tensor(item["outputs"][node].get<std::vector<float>>());
      ASSERT_EQ(pooled.sizes(), expected.sizes()) << spec->backbone;
      // The embedding (the L2-normalised feature, as retrieval uses it) within 1e-4, and the
      // raw feature within 5e-6 of its own scale: MobileFaceNet's raw values reach ~150, where
      // float32 summation order alone moves the last digits by ~1e-4.
      const double diff = (torch::nn::functional::normalize(pooled, torch::nn::functional::NormalizeFuncOptions().dim(0)) -
                           torch::nn::functional::normalize(expected, torch::nn::functional::NormalizeFuncOptions().dim(0)))
                              .abs().max().item<double>();
      const double relative = (pooled - expected).abs().max().item<double>() / expected.abs().max().item<double>();
      worst = std::max(worst, diff);
      worst_relative = std::max(worst_relative, relative);
      EXPECT_LE(diff, 1e-4) << spec->backbone << " " << item["file"];
      EXPECT_LE(relative, 5e-6) << spec->backbone << " " << item["file"];
    }
    std::cout << spec->backbone << ": " << net["images"].size() << " chips, largest difference from tfjs " << worst
              << " (normalised), " << worst_relative << " (raw, relative to its largest value)\n";
  }
}

TEST(GraphBackbones, OutputsMatchTfjs) {
  if (!have_models()) GTEST_SKIP() << "human-models networks not found in " << models_folder() << " (run make deps)";
  expect_matches_tfjs(fs::path(testing::source_dir()) / "tests/fixtures/graph_nets");
  if (const char* other = std::getenv("TOONREID_GRAPH_REFERENCE_DIR"); other && *other) expect_matches_tfjs(other);
}

TEST(GraphBackbones, WholeGraphIncludingNormalisationMatchesTfjs) {
  if (!have_models()) GTEST_SKIP() << "human-models networks not found (run make deps)";
  const fs::path folder = fs::path(testing::source_dir()) / "tests/fixtures/graph_nets";
  std::ifstream file(folder / "reference.json");
  const nlohmann::json reference = nlohmann::json::parse(file);
  TfjsGraph graph(models_folder() / "mobilefacenet.json", "embeddings");
  torch::NoGradGuard no_grad;
  const auto& item = reference["networks"][0]["images"][0];
  const torch::Tensor x = to_input(read_image(folder / item["file"].get<std::string>()), "mobilefacenet").permute({0, 2, 3, 1});
  const torch::Tensor got = graph->forward(x).squeeze(0);
  const torch::Tensor expected = torch::tensor(item["outputs"]["embeddings"].get<std::vector<float>>());
  EXPECT_NEAR(got.norm().item<double>(), 1.0, 1e-5);
  EXPECT_LE((got - expected).abs().max().item<double>(), 1e-5);
}

TEST(GraphBackbones, TrainLikeAnyBackbone) {
  if (!have_models()) GTEST_SKIP() << "human-models networks not found (run make deps)";
  ConfigSchema schema = toonreid_schema();
  Config config = make_config(schema, {"model.backbone=mobilefacenet", "input.size=[112, 112]"});
  ReidModel model = build_model(config, 5);
  EXPECT_EQ(model->backbone().num_stages(), 4);  // 56, 28, 14, 7-pixel maps
  model->freeze_stages(2);
  model->train();
  const HeadOutput out = model->forward(torch::randn({4, 3, 112, 112}));
  EXPECT_EQ(out.logits.sizes(), (torch::IntArrayRef{4, 5}));
  out.logits.sum().backward();
  for (const auto& p : model->backbone().stage(0).front()->parameters()) EXPECT_FALSE(p.grad().defined());
  std::size_t learning = 0;
  for (const auto& p : model->backbone().stage(3).front()->parameters()) learning += p.grad().defined() && p.grad().abs().sum().item<double>() > 0;
  EXPECT_GT(learning, 10u);
  EXPECT_EQ(model->embed(torch::randn({2, 3, 112, 112})).size(1), 192);
  // State dicts round-trip by name (checkpoints).
  ReidModel other = build_model(config, 5);
  torch::NoGradGuard no_grad;
  for (auto& p : other->named_parameters()) p.value().zero_();
  for (const auto& p : model->named_parameters()) other->named_parameters()[p.key()].copy_(p.value());
  for (const auto& b : model->named_buffers()) other->named_buffers()[b.key()].copy_(b.value());
  model->eval();
  other->eval();
  const torch::Tensor x = torch::randn({1, 3, 112, 112});
  EXPECT_TRUE(torch::allclose(model->embed(x), other->embed(x)));
}

TEST(GraphBackbones, WrongInputSizeIsRefusedByName) {
  if (!have_models()) GTEST_SKIP() << "human-models networks not found (run make deps)";
  ConfigSchema schema = toonreid_schema();
  const Config config = make_config(schema, {"model.backbone=mobilefacenet", "input.size=[150, 150]"});
  EXPECT_THROW(
      try { build_model(config, 0); } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("112x112"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("input.size"), std::string::npos) << e.what();
        throw;
      },
      ConfigError);
  const Config none = make_config(schema, {"model.backbone=hse_faceres", "input.size=[224, 224]", "model.pretrained=none"});
  EXPECT_THROW(build_model(none, 0), ConfigError);
}

// A tiny graph model on disk: one Const and one op of the test's choosing.
fs::path write_graph(const fs::path& dir, const std::string& op, bool with_weights = true) {
  fs::create_directories(dir);
  nlohmann::json model = nlohmann::json::parse(R"({
    "format": "graph-model",
    "modelTopology": {"node": [
      {"name": "x", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": [{"size": "-1"}, {"size": "4"}]}}}},
      {"name": "w", "op": "Const"},
      {"name": "y", "op": "OP", "input": ["x", "w"]}]},
    "weightsManifest": [{"paths": ["g.bin"], "weights": [{"name": "w", "shape": [4], "dtype": "float32"}]}]})");
  model["modelTopology"]["node"][2]["op"] = op;
  if (!with_weights) model["weightsManifest"][0]["weights"] = nlohmann::json::array();
  std::ofstream(dir / "model.json") << model.dump();
  const std::vector<float> w = {1, 2, 3, 4};
  std::ofstream bin(dir / "g.bin", std::ios::binary);
  if (with_weights) bin.write(reinterpret_cast<const char*>(w.data()), 16);
  return dir / "model.json";
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(TfjsGraph, RunsASmallGraphAndRefusesWhatItCannot) {
  testing::TempDir tmp;
  {
    TfjsGraph g(write_graph(tmp.path() / "mul", "Mul"), "y");
    const torch::Tensor y = g->forward(torch::ones({2, 4}));
    EXPECT_TRUE(torch::equal(y[1], torch::tensor({1.f, 2.f, 3.f, 4.f})));
    EXPECT_EQ(g->parameters().size(), 1u);  // w is learnable
    EXPECT_NE(error_of([&] { g->forward(torch::ones({2, 5})); }).find("[-1, 4]"), std::string::npos);
  }
  const std::string unsupported = error_of([&] { TfjsGraph(write_graph(tmp.path() / "foo", "FancyOp"), "y"); });
  EXPECT_NE(unsupported.find("FancyOp"), std::string::npos) << unsupported;
  EXPECT_NE(unsupported.find("'y'"), std::string::npos) << unsupported;
  const std::string missing = error_of([&] { TfjsGraph(write_graph(tmp.path() / "now", "Mul", false), "y"); });
  EXPECT_NE(missing.find("'w'"), std::string::npos) << missing;
  const std::string node = error_of([&] { TfjsGraph(write_graph(tmp.path() / "mul2", "Mul"), "z"); });
  EXPECT_NE(node.find("no node 'z'"), std::string::npos) << node;
  std::ofstream(tmp.path() / "layers.json") << R"({"format": "layers-model", "modelTopology": {}})";
  EXPECT_NE(error_of([&] { TfjsGraph(tmp.path() / "layers.json", "y"); }).find("not a tfjs graph model"), std::string::npos);
}

}  // namespace
}  // namespace toonreid
