#include "model/model_checkpoint.h"

#include "model/graph_backbones.h"

#include "core/error.h"

namespace toonreid {

namespace {
const char* kFormat = "toonreid-checkpoint-1";

std::string join_lines(const std::vector<std::string>& xs) {
  std::string s;
  for (const auto& x : xs) s += x + "\n";
  return s;
}
}  // namespace

void write_model_part(torch::serialize::OutputArchive& archive, ReidModel& model, const ModelCheckpointInfo& info) {
  archive.write("format", c10::IValue(std::string(kFormat)));
  archive.write("config", c10::IValue(info.config_yaml));
  archive.write("identities", c10::IValue(join_lines(info.identities)));
  archive.write("epoch", c10::IValue(info.epoch));
  torch::serialize::OutputArchive weights;
  model->save(weights);
  archive.write("model", weights);
}

ModelCheckpointInfo read_model_info(torch::serialize::InputArchive& archive, const std::string& name) {
  c10::IValue format, config, identities, epoch;
  if (!archive.try_read("format", format) || !format.isString() || format.toStringRef() != kFormat)
    throw Error(name + ": not a toonreid checkpoint");
  archive.read("config", config);
  archive.read("identities", identities);
  archive.read("epoch", epoch);
  ModelCheckpointInfo info;
  info.config_yaml = config.toStringRef();
  info.epoch = epoch.toInt();
  std::string ids = identities.toStringRef();
  for (std::size_t start = 0, end; (end = ids.find('\n', start)) != std::string::npos; start = end + 1)
    info.identities.push_back(ids.substr(start, end - start));
  return info;
}

void read_model_weights(torch::serialize::InputArchive& archive, ReidModel& model) {
  torch::serialize::InputArchive weights;
  archive.read("model", weights);
  model->load(weights);
}

void write_starting_weights(torch::serialize::OutputArchive& archive, const std::map<std::string, torch::Tensor>& weights) {
  torch::serialize::OutputArchive ref;
  for (const auto& [name, tensor] : weights) ref.write(name, tensor, /*is_buffer=*/true);
  archive.write("reference", ref);
}

std::map<std::string, torch::Tensor> read_starting_weights(torch::serialize::InputArchive& archive) {
  std::map<std::string, torch::Tensor> weights;
  torch::serialize::InputArchive ref;
  if (!archive.try_read("reference", ref)) return weights;
  for (const std::string& key : ref.keys()) {
    torch::Tensor t;
    ref.read(key, t, /*is_buffer=*/true);
    weights[key] = t;
  }
  return weights;
}

LoadedModel load_model_checkpoint(const std::filesystem::path& file, const ConfigSchema& schema) {
  if (!std::filesystem::exists(file)) throw Error("checkpoint not found: " + file.string());
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(file.string());
  } catch (const c10::Error& e) {
    throw Error(file.string() + ": not a toonreid checkpoint (" + std::string(e.what_without_backtrace()).substr(0, 160) + ")");
  }
  ModelCheckpointInfo info = read_model_info(archive, file.string());
  Config config = load_config_text(schema, info.config_yaml, file.string() + " (stored config)");
  // The weights come from the checkpoint: skip the pretrained initialisation. An imported
  // graph's layout is its model.json, so a graph backbone is still built from one (the
  // default human-models file where the stored path does not exist here).
  if (!graph_network_spec(config.get_string("model.backbone")))
    config.set_from_text("model.pretrained", "none", file.string());
  else if (const std::string graph = config.get_string("model.pretrained"); graph != "auto" && !std::filesystem::exists(graph))
    config.set_from_text("model.pretrained", "auto", file.string());
  ReidModel model = build_model(config, static_cast<int64_t>(info.identities.size()));
  try {
    read_model_weights(archive, model);
  } catch (const c10::Error& e) {
    throw Error(file.string() + ": weights do not fit the stored model (" +
                std::string(e.what_without_backtrace()).substr(0, 200) + ")");
  }
  model->eval();
  return LoadedModel{std::move(config), std::move(model), std::move(info)};
}

std::vector<std::string> init_from_checkpoint(ReidModel& model, const std::filesystem::path& file,
                                              const ConfigSchema& schema) {
  LoadedModel source = load_model_checkpoint(file, schema);
  auto from = source.model->named_parameters(true);
  auto from_buffers = source.model->named_buffers(true);
  std::vector<std::string> skipped;
  std::size_t copied = 0;
  torch::NoGradGuard no_grad;
  auto copy = [&](const std::string& name, torch::Tensor& dst, const torch::Tensor* src) {
    if (!src || src->sizes() != dst.sizes()) {
      skipped.push_back(name);
      return false;
    }
    dst.copy_(*src);
    return true;
  };
  for (auto& p : model->named_parameters(true)) copied += copy(p.key(), p.value(), from.find(p.key())) ? 1 : 0;
  for (auto& b : model->named_buffers(true)) copy(b.key(), b.value(), from_buffers.find(b.key()));
  if (copied == 0)
    throw Error(file.string() + ": no parameter of the checkpoint fits this model (another backbone?)");
  return skipped;
}

}  // namespace toonreid
