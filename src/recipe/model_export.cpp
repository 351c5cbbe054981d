#include "recipe/model_export.h"

#include <unistd.h>

#include <cstdlib>
#include <set>

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/process_launch.h"
#include "face/face_aligner.h"
#include "model/torch_export.h"
#include "toonreid_schema.h"

namespace toonreid {

namespace fs = std::filesystem;

namespace {

const std::set<std::string>& exportable_backbones() {
  static const std::set<std::string> names = {"dlib_resnet",   "resnet18",        "resnet34",       "resnet50",
                                              "resnet101",     "resnet50_ibn_a",  "resnet101_ibn_a"};
  return names;
}

// The weights' origin and the terms that come with it (the weights' own licence applies;
// toonreid's training adds none, the training data's terms may).
std::string weights_licence(const Config& model_config, const std::string& weights) {
  const std::string backbone = model_config.get_string("model.backbone");
  const std::string pretrained = model_config.get_string("model.pretrained");
  std::string start;
  if (backbone == "dlib_resnet" && pretrained != "none")
    start = "dlib_face_recognition_resnet_model_v1 (Davis King, public domain), as converted by @vladmandic/face-api (MIT)";
  else if (pretrained == "auto" || pretrained == "none")
    start = "random initialisation (no pretrained weights)";
  else
    start = "the initial weights " + pretrained + " (their own licence applies)";
  if (weights.empty()) return "pretrained network: " + start;
  return "fine-tuned by toonreid from " + start + "; the training data's terms of use may apply to the result";
}

}  // namespace

ExportFormat parse_export_format(const std::string& name) {
  if (name == "pytorch") return ExportFormat::PyTorch;
  if (name == "onnx") return ExportFormat::Onnx;
  throw Error("export: unknown --format '" + name + "' (known: pytorch, onnx)");
}

nlohmann::json export_metadata(const ReidModel& model, const Config& mc, const Config& config, const std::string& weights) {
  ReidModel m = model;
  const std::vector<long long> size = mc.get_int_list("input.size");
  const FaceOptions face = face_options(mc);
  const torch::Tensor neck = m->head()->named_parameters()["bnneck.weight"];
  nlohmann::json meta;
  meta["architecture"] = {{"backbone", mc.get_string("model.backbone")},
                          {"last_stride", mc.get_int("model.last_stride")},
                          {"pooling", mc.get_string("model.pooling")},
                          {"neck_feat", mc.get_string("model.neck_feat")},
                          {"embedding_dim", neck.size(0)}};
  meta["input"] = {{"height", size[0]},
                   {"width", size[1]},
                   {"mean", mc.get_float_list("input.mean")},
                   {"std", mc.get_float_list("input.std")},
                   {"channels", "rgb"},
                   {"resize", mc.get_string("input.resize")},
                   {"layout", "float32 [N, 3, H, W]: (pixel / 255 - mean) / std per RGB channel"}};
  meta["face"] = {{"align", mc.get_bool("input.align")},
                  {"chip_size", face.chip.size},
                  {"padding", face.chip.padding},
                  {"template", face.chip.template_name},
                  {"detectors", face.detectors}};
  meta["test"] = {{"flip_average", config.get_bool("test.flip")},
                  {"l2_normalize", config.get_bool("test.normalize")},
                  {"whole_image", config.get_string("test.whole_image")}};
  meta["weights"] = {{"source", weights.empty() ? "pretrained: " + mc.get_string("model.pretrained") : weights},
                     {"licence", weights_licence(mc, weights)}};
  return meta;
}

fs::path toonreid_torch_folder() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("TOONREID_PYTHONPATH"); env && *env) candidates.emplace_back(env);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path() / "python");
    candidates.push_back(exe.parent_path().parent_path() / "share" / "toonreid" / "python");
  }
  for (const fs::path& dir : candidates)
    if (fs::exists(dir / "toonreid_torch" / "__init__.py")) return dir;
  std::string tried;
  for (const fs::path& dir : candidates) tried += (tried.empty() ? "" : ", ") + dir.string();
  throw Error("export: the toonreid_torch Python package was not found (tried " + tried +
              "; set TOONREID_PYTHONPATH to the folder holding it)");
}

RunSetup export_setup(const std::string& config_file, const std::string& weights,
                      const std::vector<std::string>& overrides) {
  if (!config_file.empty()) return RunSetup(config_file, overrides);
  if (weights.empty()) throw Error("export: give --config (its pretrained network) or --weights (a checkpoint)");
  const ConfigSchema schema = toonreid_schema();
  const LoadedModel loaded = load_model_checkpoint(weights, schema);
  return RunSetup::from_text(loaded.config.to_yaml(false), weights, overrides);
}

void export_model(const RunSetup& run, const ExportRequest& request) {
  if (request.out.empty()) throw Error("export: --out is required");
  if (request.out.has_parent_path() && !fs::is_directory(request.out.parent_path()))
    throw Error("export: the folder of " + request.out.string() + " does not exist");
  RunSetup::EvalModel m = run.eval_model(request.weights);
  const std::string trained = m.model_config->get_string("model.backbone");
  if (exportable_backbones().count(trained) == 0) {
    std::string known;
    for (const auto& n : exportable_backbones()) known += (known.empty() ? "" : ", ") + n;
    throw ConfigError("export: model.backbone " + trained +
                      " is a graph network toonreid runs from its tfjs model.json; it cannot be exported (exportable: " +
                      known + ")");
  }
  const nlohmann::json meta = export_metadata(m.model, *m.model_config, run.config(), request.weights);
  if (request.format == ExportFormat::PyTorch) {
    write_torch_export(m.model, meta, request.out);
    spdlog::info("export: {} ({} network, {}-d embedding) -> {}", request.weights.empty() ? "pretrained" : request.weights,
                 trained, meta["architecture"]["embedding_dim"].get<int64_t>(), request.out.string());
    return;
  }
  // ONNX: the PyTorch file first (a temporary beside the output), traced by the Python side.
  const fs::path folder = toonreid_torch_folder();
  const fs::path staged = request.out.string() + ".export-" + std::to_string(getpid()) + ".pt";
  struct Cleanup {
    fs::path path;
    ~Cleanup() {
      std::error_code ec;
      fs::remove(path, ec);
    }
  } cleanup{staged};
  write_torch_export(m.model, meta, staged);
  std::string path = folder.string();
  if (const char* old = std::getenv("PYTHONPATH"); old && *old) path += std::string(":") + old;
  const int code = run_program(request.python,
                               {"-m", "toonreid_torch.onnx_export", staged.string(), request.out.string(), "--opset",
                                std::to_string(request.onnx_opset)},
                               {{"PYTHONPATH", path}});
  if (code == 127) throw Error("export: cannot run " + request.python + " (the ONNX route needs python3-torch and python3-onnx)");
  if (code != 0)
    throw Error("export: the ONNX export (" + request.python + " -m toonreid_torch.onnx_export) failed with exit code " +
                std::to_string(code) + "; its message is above");
  spdlog::info("export: {} ({} network) -> {} (ONNX opset {})", request.weights.empty() ? "pretrained" : request.weights,
               trained, request.out.string(), request.onnx_opset);
}

}  // namespace toonreid
