#include "model/backbone.h"

#include "core/error.h"
#include "model/dlib_resnet.h"
#include "model/graph_backbones.h"
#include "model/resnet.h"

namespace toonreid {

const std::map<std::string, BackboneFactory>& backbone_factories() {
  // Immutable table of constructors, built once.
  static const std::map<std::string, BackboneFactory> factories = {
      {"resnet18", [](const BackboneOptions& o) { return std::make_shared<ResNet>(ResNetSpec{false, {2, 2, 2, 2}, false}, o.last_stride); }},
      {"resnet34", [](const BackboneOptions& o) { return std::make_shared<ResNet>(ResNetSpec{false, {3, 4, 6, 3}, false}, o.last_stride); }},
      {"resnet50", [](const BackboneOptions& o) { return std::make_shared<ResNet>(ResNetSpec{true, {3, 4, 6, 3}, false}, o.last_stride); }},
      {"resnet101", [](const BackboneOptions& o) { return std::make_shared<ResNet>(ResNetSpec{true, {3, 4, 23, 3}, false}, o.last_stride); }},
      {"resnet50_ibn_a", [](const BackboneOptions& o) { return std::make_shared<ResNet>(ResNetSpec{true, {3, 4, 6, 3}, true}, o.last_stride); }},
      // dlib's face embedder: fixed strides (last_stride does not apply), 150x150 input.
      {"dlib_resnet", [](const BackboneOptions&) { return std::make_shared<DlibResNet>(true); }},
      {"resnet101_ibn_a", [](const BackboneOptions& o) { return std::make_shared<ResNet>(ResNetSpec{true, {3, 4, 23, 3}, true}, o.last_stride); }},
  };
  static const std::map<std::string, BackboneFactory> all = [] {
    std::map<std::string, BackboneFactory> f = factories;
    // Imported face networks: their strides are fixed (last_stride does not apply).
    for (const GraphNetworkSpec& spec : graph_network_specs())
      f[spec.backbone] = [&spec](const BackboneOptions& o) -> std::shared_ptr<Backbone> {
        if (o.channels != "auto" && o.channels != "rgb" && o.channels != "bgr")
          throw ConfigError("model.input_channels: expected auto, rgb or bgr, got '" + o.channels + "'");
        const bool bgr = o.channels == "auto" ? spec.input.bgr : o.channels == "bgr";
        return std::make_shared<GraphBackbone>(spec, o.graph_file, bgr);
      };
    return f;
  }();
  return all;
}

std::vector<std::string> backbone_names() {
  std::vector<std::string> names;
  for (const auto& [name, factory] : backbone_factories()) names.push_back(name);
  return names;
}

std::shared_ptr<Backbone> make_backbone(const BackboneOptions& options) {
  auto it = backbone_factories().find(options.name);
  if (it == backbone_factories().end()) {
    std::string known;
    for (const auto& n : backbone_names()) known += (known.empty() ? "" : ", ") + n;
    throw ConfigError("unknown backbone '" + options.name + "' (known: " + known + ")");
  }
  if (options.last_stride != 1 && options.last_stride != 2)
    throw ConfigError("backbone last_stride must be 1 or 2, got " + std::to_string(options.last_stride));
  return it->second(options);
}

}  // namespace toonreid
