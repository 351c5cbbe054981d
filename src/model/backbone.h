// Backbones: networks mapping images [N, 3, H, W] to feature maps [N, C, h, w], built
// by name from the config (see make_backbone). Parameter names follow torchvision and
// IBN-Net, so their .pth state dicts load by name.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

namespace toonreid {

class ConfigSchema;
class Config;

struct BackboneOptions {
  std::string name = "resnet50";
  int last_stride = 1;  // stride of the last stage: 1 keeps a 2x larger final feature map (BoT)
  // Graph networks (graph_backbones.h): the model.json (empty: the one `make deps`
  // fetched) and the channel order ("auto": the network's own, "rgb", "bgr").
  std::string graph_file;
  std::string channels = "auto";
};

class Backbone : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor images) = 0;
  virtual int out_channels() const = 0;
  // The modules of stage i (0: stem, 1..4: residual stages), for freezing.
  virtual std::vector<std::shared_ptr<torch::nn::Module>> stage(int index) = 0;
  virtual int num_stages() const = 0;
};

using BackboneFactory = std::function<std::shared_ptr<Backbone>(const BackboneOptions&)>;

// Every backbone toonreid knows, by name: resnet18, resnet34, resnet50, resnet101,
// resnet50_ibn_a, resnet101_ibn_a, dlib_resnet (architecture only: weights are loaded
// separately, see faceapi_weights.h), and the graph networks mobilefacenet, hse_faceres,
// hse_faceres_deep (architecture and weights from their model.json).
const std::map<std::string, BackboneFactory>& backbone_factories();
std::vector<std::string> backbone_names();

// Throws ConfigError naming the unknown backbone and the known ones.
std::shared_ptr<Backbone> make_backbone(const BackboneOptions& options);

}  // namespace toonreid
