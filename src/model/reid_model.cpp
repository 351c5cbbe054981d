#include "model/reid_model.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "core/config.h"
#include "core/error.h"
#include "model/dlib_resnet.h"
#include "model/graph_backbones.h"
#include "model/faceapi_weights.h"
#include "model/state_dict.h"

namespace toonreid {

namespace fs = std::filesystem;

ReidModelImpl::ReidModelImpl(std::shared_ptr<Backbone> backbone, EmbeddingHead head)
    : backbone_(register_module("backbone", std::move(backbone))), head_(register_module("head", std::move(head))) {}

HeadOutput ReidModelImpl::forward(const torch::Tensor& images) { return head_->forward(backbone_->forward(images)); }

torch::Tensor ReidModelImpl::embed(const torch::Tensor& images) { return head_->embedding(forward(images)); }

std::vector<torch::Tensor> ReidModelImpl::head_parameters() const { return head_->parameters(); }

void ReidModelImpl::synchronize_batch_norm(ProcessGroup* group) {
  for (auto& m : modules(/*include_self=*/false))
    if (auto* bn = m->as<BatchNormImpl>()) bn->synchronize_over(group);
}

void ReidModelImpl::freeze_stages(int n) {
  if (n < 0 || n > backbone_->num_stages()) throw ConfigError("cannot freeze " + std::to_string(n) + " stages");
  for (int s = 0; s < backbone_->num_stages(); ++s)
    for (auto& m : backbone_->stage(s))
      for (auto& p : m->parameters()) p.set_requires_grad(s >= n);
  frozen_ = n;
  train(is_training());
}

void ReidModelImpl::train(bool on) {
  torch::nn::Module::train(on);
  // Frozen stages also keep their BatchNorm running statistics fixed.
  for (int s = 0; s < frozen_; ++s)
    for (auto& m : backbone_->stage(s)) m->eval();
}

void add_model_options(ConfigSchema& schema) {
  schema.describe_section("model", "Backbone, head and pretrained weights.");
  std::vector<std::string> names = backbone_names();
  schema.add_string("model.backbone", "resnet50", "Backbone network").one_of(names);
  schema.add_int("model.last_stride", 1, "Stride of the last ResNet stage (1: BoT's larger final map)").range(1, 2);
  schema.add_string("model.pooling", "avg", "Global pooling: avg or gem (generalised mean)").one_of({"avg", "gem"});
  schema.add_float("model.gem_p", 3.0, "Initial GeM exponent").range(1, 10);
  schema.add_string("model.neck_feat", "after", "Test feature: before or after the BNNeck").one_of({"before", "after"});
  schema.add_string("model.pretrained", "auto",
                    "Initial weights: auto (face-api weights for dlib_resnet, the human-models graph for "
                    "mobilefacenet / hse_faceres*, none otherwise), none, a .pth state dict (torchvision/IBN-Net "
                    "names), a face-api weights folder, or a tfjs graph model.json (graph backbones)");
  schema.add_string("model.input_channels", "auto",
                    "Graph backbones: the channel order the network is fed (auto: the one it was trained on)")
      .one_of({"auto", "rgb", "bgr"});
  schema.add_string("model.init_checkpoint", "",
                    "A toonreid checkpoint to start training from (matching parameters are copied; a classifier "
                    "for another number of identities is left new)");
}

ReidModel build_model(const Config& config, int64_t num_classes, ClassifierKind classifier) {
  BackboneOptions bo;
  bo.name = config.get_string("model.backbone");
  bo.last_stride = static_cast<int>(config.get_int("model.last_stride"));
  bo.channels = config.get_string("model.input_channels");
  std::string pretrained = config.get_string("model.pretrained");
  if (const GraphNetworkSpec* graph = graph_network_spec(bo.name)) {
    // The graph is the network: its layout and its weights come from one model.json.
    if (pretrained == "none" || pretrained.empty())
      throw ConfigError(config.describe("model.pretrained") + ": " + bo.name +
                        " is an imported graph whose layout comes with its weights (use auto or a model.json)");
    if (pretrained != "auto") {
      if (!fs::exists(pretrained) || fs::path(pretrained).extension() != ".json")
        throw ConfigError(config.describe("model.pretrained") + ": " + bo.name + " needs a tfjs graph model.json (" +
                          pretrained + (fs::exists(pretrained) ? " is not one)" : " not found)"));
      bo.graph_file = pretrained;
    }
    const auto& size = config.get_int_list("input.size");
    if (size[0] != graph->input.size || size[1] != graph->input.size)
      throw ConfigError(config.describe("input.size") + ": " + bo.name + " takes " + std::to_string(graph->input.size) +
                        "x" + std::to_string(graph->input.size) + " inputs, the config gives " + std::to_string(size[0]) +
                        "x" + std::to_string(size[1]));
    pretrained = "none";  // loaded with the graph
  }
  auto backbone = make_backbone(bo);
  if (const GraphNetworkSpec* graph = graph_network_spec(bo.name))
    spdlog::info("backbone {} imported from {}", bo.name,
                 bo.graph_file.empty() ? (default_human_models_folder() / graph->file).string() : bo.graph_file);
  const Pooling pooling = config.get_string("model.pooling") == "gem" ? Pooling::GeM : Pooling::Average;
  const NeckFeature neck = config.get_string("model.neck_feat") == "before" ? NeckFeature::BeforeBN : NeckFeature::AfterBN;

  if (pretrained == "auto") pretrained = bo.name == "dlib_resnet" ? default_faceapi_folder().string() : "none";
  if (pretrained != "none" && !pretrained.empty()) {
    if (!fs::exists(pretrained))
      throw ConfigError(config.describe("model.pretrained") + ": not found" +
                        (bo.name == "dlib_resnet" ? " (run `make deps` to fetch the face-api weights)" : ""));
    if (fs::is_directory(pretrained)) {
      auto* dlib = dynamic_cast<DlibResNet*>(backbone.get());
      if (dlib == nullptr)
        throw ConfigError(config.describe("model.pretrained") + ": a face-api folder only fits model.backbone dlib_resnet");
      load_faceapi_weights(*dlib, pretrained);
      spdlog::info("backbone dlib_resnet initialised from face-api weights in {}", pretrained);
    } else {
      StateDictReport r = load_state_dict(*backbone, pretrained);
      spdlog::info("backbone {} initialised from {}: {} tensors loaded", bo.name, pretrained, r.loaded.size());
      if (!r.skipped.empty()) spdlog::info("skipped classifier entries of another size: {}", fmt::join(r.skipped, ", "));
      if (!r.unexpected.empty()) spdlog::info("ignored entries not in the backbone: {}", fmt::join(r.unexpected, ", "));
      if (!r.missing.empty()) spdlog::warn("{} backbone entries not in {}, left at their initial values: {}", r.missing.size(), pretrained, fmt::join(r.missing, ", "));
      if (r.loaded.empty()) throw ConfigError(config.describe("model.pretrained") + ": no tensor names match " + bo.name);
    }
  }
  EmbeddingHead head(backbone->out_channels(), num_classes, pooling, neck, config.get_float("model.gem_p"), classifier);
  return ReidModel(std::move(backbone), std::move(head));
}

}  // namespace toonreid
