// The dlib_resnet import is exact: descriptors match those face-api itself computed in
// Node (tools/faceapi_reference/make_reference.js) for the images in tests/fixtures/faceapi.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <torch/utils.h>

#include <fstream>

#include "core/error.h"
#include "data/image_io.h"
#include "model/dlib_resnet.h"
#include "model/faceapi_weights.h"
#include "test_util.h"

namespace toonreid {
namespace {

namespace fs = std::filesystem;

fs::path weights_folder() { return default_faceapi_folder(testing::source_dir()); }

torch::Tensor to_input(const cv::Mat& rgb) {
  torch::Tensor x = torch::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, torch::kUInt8).to(torch::kFloat);
  torch::Tensor mean = torch::tensor({122.782f, 117.001f, 104.298f});
  return ((x - mean) / 255.0f).permute({2, 0, 1}).unsqueeze(0).contiguous();
}

TEST(DlibResNet, ArchitectureShapes) {
  DlibResNet net;
  net.eval();
  torch::NoGradGuard no_grad;
  torch::Tensor map = net.forward(torch::zeros({2, 3, 150, 150}));
  EXPECT_EQ(map.sizes(), (torch::IntArrayRef{2, 128, 2, 2}));
  EXPECT_EQ(net.descriptor(torch::zeros({1, 3, 150, 150})).sizes(), (torch::IntArrayRef{1, 128}));
  EXPECT_EQ(net.out_channels(), 128);
  EXPECT_EQ(DlibResNet(false).out_channels(), 256);
  EXPECT_EQ(net.stage(2).size(), 4u);  // conv64_down, conv64_1..3
  EXPECT_EQ(net.stage(4).size(), 5u);  // conv256_down, _1, _2, _down_out, fc
}

TEST(DlibResNet, DescriptorsMatchFaceApi) {
  const fs::path folder = weights_folder();
  if (!fs::exists(folder / "face_recognition_model.bin"))
    GTEST_SKIP() << "face-api weights not found in " << folder << " (run make deps)";
  DlibResNet net;
  load_faceapi_weights(net, folder);
  net.eval();
  torch::NoGradGuard no_grad;

  const fs::path data = fs::path(testing::source_dir()) / "tests/fixtures/faceapi";
  std::ifstream in(data / "reference.json");
  nlohmann::json reference = nlohmann::json::parse(in);
  ASSERT_GE(reference["images"].size(), 3u);
  std::vector<torch::Tensor> ours;
  for (const auto& item : reference["images"]) {
    const std::string file = item["file"];
    std::vector<float> expected = item["descriptor"].get<std::vector<float>>();
    torch::Tensor ref = torch::tensor(expected);
    torch::Tensor got = net.descriptor(to_input(read_image(data / file))).squeeze(0);
    double cosine = torch::cosine_similarity(got, ref, 0).item<double>();
    double relative = ((got - ref).norm() / ref.norm()).item<double>();
    EXPECT_GE(cosine, 0.999) << file;
    EXPECT_LT(relative, 0.01) << file;
    std::printf("%-14s cosine %.6f  relative L2 error %.2e\n", file.c_str(), cosine, relative);
    ours.push_back(got);
  }
  // Different pictures give different descriptors (the test would pass on a constant net otherwise).
  EXPECT_LT(torch::cosine_similarity(ours[0], ours[2], 0).item<double>(), 0.99);
}

TEST(DlibResNet, BadWeightFoldersAreNamed) {
  testing::TempDir dir;
  DlibResNet net;
  try {
    load_faceapi_weights(net, dir.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("make deps"), std::string::npos) << e.what();
  }
  testing::write_text(dir / "face_recognition_model-weights_manifest.json",
                      R"([{"paths": ["w.bin"], "weights": [{"name": "conv32_down/conv/bias", "shape": [16], "dtype": "float32"}]}])");
  testing::write_text(dir / "w.bin", std::string(64, '\0'));
  try {
    load_faceapi_weights(net, dir.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv32_down/conv/bias"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace toonreid
