#include "face/input_pipeline.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/error.h"

namespace toonreid {

std::vector<std::string> input_pipeline_keys(const ConfigSchema& schema) {
  static const char* const kInput[] = {"input.align", "input.size",     "input.resize",        "input.mean",
                                       "input.std",   "model.backbone", "model.input_channels"};
  static const char* const kWhere[] = {"face.cache_dir", "face.weights_dir", "face.dlib_predictor"};
  std::vector<std::string> keys;
  for (const auto& o : schema.options()) {
    const bool input = std::find(std::begin(kInput), std::end(kInput), o.key) != std::end(kInput);
    const bool face = o.key.rfind("face.", 0) == 0 && std::find(std::begin(kWhere), std::end(kWhere), o.key) == std::end(kWhere);
    if (input || face) keys.push_back(o.key);
  }
  return keys;
}

Config with_checkpoint_pipeline(const Config& given, const Config& trained, const std::string& checkpoint,
                                PipelineConflicts policy) {
  Config out = given;
  std::string conflicts;
  for (const std::string& key : input_pipeline_keys(given.schema())) {
    const std::string was = format_value(trained.get(key)), now = format_value(given.get(key));
    if (was == now) continue;
    const std::string& source = given.source(key);
    if (source == "default" || (policy == PipelineConflicts::CheckpointWins && source != "command line")) {
      out.set_from_text(key, was, checkpoint);
      if (source == "default") spdlog::debug("{} = {} from {}", key, was, checkpoint);
      else spdlog::info("{} = {} from {} ({} gives {})", key, was, checkpoint, source, now);
    } else if (source == "command line") {
      spdlog::warn("{}: {} was trained with {}, the command line overrides it with {}", key, checkpoint, was, now);
    } else {
      conflicts += "\n  " + key + ": the checkpoint has " + was + ", " + source + " gives " + now;
    }
  }
  if (!conflicts.empty())
    throw ConfigError(checkpoint + ": the config contradicts the input pipeline the model was trained with (drop " +
                      "these settings to use the checkpoint's, or override them on the command line with key=value):" +
                      conflicts);
  return out;
}

}  // namespace toonreid
