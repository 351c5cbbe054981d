#include "model/weight_interpolation.h"

#include <map>

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include "core/atomic_file.h"
#include "core/config_schema.h"
#include "core/error.h"
#include "model/model_checkpoint.h"

namespace toonreid {

namespace {

using Weights = std::map<std::string, torch::Tensor>;

Weights named_state(ReidModel& model) {
  Weights w;
  for (const auto& p : model->named_parameters()) w[p.key()] = p.value();
  for (const auto& b : model->named_buffers()) w[b.key()] = b.value();
  return w;
}

// The starting weights stored beside the model (empty when none).
Weights stored_start(const std::filesystem::path& file) {
  torch::serialize::InputArchive archive;
  archive.load_from(file.string());
  return read_starting_weights(archive);
}

}  // namespace

InterpolationResult interpolate_checkpoint(const std::filesystem::path& fine_tuned, double alpha,
                                           const std::filesystem::path& out, const ConfigSchema& schema,
                                           const std::filesystem::path& start) {
  if (!(alpha >= 0 && alpha <= 1)) throw Error("interpolation: alpha must be in [0, 1], got " + std::to_string(alpha));
  LoadedModel ft = load_model_checkpoint(fine_tuned, schema);
  InterpolationResult result;
  Weights w0;
  ReidModel start_model{nullptr};  // keeps the starting tensors alive
  if (!start.empty()) {
    LoadedModel s = load_model_checkpoint(start, schema);
    start_model = s.model;
    w0 = named_state(start_model);
    result.start = start.string();
  } else if (w0 = stored_start(fine_tuned); !w0.empty()) {
    result.start = fine_tuned.string() + " (its stored starting weights)";
  } else {
    // The pretrained initialisation the training started from.
    Config config = load_config_text(schema, ft.info.config_yaml, fine_tuned.string() + " (stored config)");
    const std::string pretrained = config.get_string("model.pretrained");
    if (pretrained == "none")
      throw Error(fine_tuned.string() + ": no starting weights stored and model.pretrained is none: nothing to "
                  "interpolate with (give a start checkpoint)");
    start_model = build_model(config, static_cast<int64_t>(ft.info.identities.size()));
    w0 = named_state(start_model);
    result.start = "model.pretrained " + pretrained;
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, w] : named_state(ft.model)) {
    const auto it = w0.find(name);
    if (name.rfind("head.classifier", 0) == 0 || !w.is_floating_point() || it == w0.end()) {
      ++result.kept;
      continue;
    }
    if (!it->second.sizes().equals(w.sizes()))
      throw Error(result.start + ": '" + name + "' has shape " + c10::str(it->second.sizes()) + ", " +
                  fine_tuned.string() + " has " + c10::str(w.sizes()) + " (another architecture)");
    w.copy_(it->second.to(w.dtype()) + alpha * (w - it->second.to(w.dtype())));
    ++result.interpolated;
  }
  if (result.interpolated == 0) throw Error(result.start + ": no weight in common with " + fine_tuned.string());
  torch::serialize::OutputArchive archive;
  write_model_part(archive, ft.model, ft.info);
  write_file_atomically(out, [&](std::ostream& o) { archive.save_to(o); });
  return result;
}

}  // namespace toonreid
