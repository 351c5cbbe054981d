#include "model/faceapi_weights.h"

#include <torch/utils.h>

#include <cstdlib>
#include <map>
#include <set>

#include "core/error.h"
#include "model/dlib_resnet.h"
#include "model/tfjs_weights.h"

namespace toonreid {

namespace fs = std::filesystem;

namespace {

const char* kManifest = "face_recognition_model-weights_manifest.json";

// face-api name -> toonreid parameter name, and how to reshape.
std::string parameter_name(const std::string& name) {
  auto replace_tail = [&](const std::string& tail, const std::string& with) -> std::string {
    if (name.size() > tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0) {
      std::string head = name.substr(0, name.size() - tail.size());
      for (auto& c : head) if (c == '/') c = '.';
      return head + with;
    }
    return {};
  };
  if (name == "fc") return "fc.weight";
  for (const auto& [tail, with] : std::vector<std::pair<std::string, std::string>>{
           {"/conv/filters", ".conv.weight"}, {"/conv/bias", ".conv.bias"},
           {"/scale/weights", ".scale_weight"}, {"/scale/biases", ".scale_bias"}}) {
    std::string p = replace_tail(tail, with);
    if (!p.empty()) return p;
  }
  return {};
}

}  // namespace

fs::path find_weights_folder(const std::string& name, const std::string& marker, const fs::path& start) {
  if (const char* env = std::getenv("TOONREID_WEIGHTS_DIR"); env && *env) return fs::path(env) / name;
  // The project holding the working directory, else the one holding this program
  // (build/toonreid run from anywhere).
  const fs::path sub = fs::path(".cache/weights") / name;
  std::vector<fs::path> starts = {fs::absolute(start)};
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) starts.push_back(exe.parent_path());
  for (const fs::path& from : starts) {
    for (fs::path dir = from; !dir.empty(); dir = dir.parent_path()) {
      if (fs::exists(dir / sub / marker)) return dir / sub;
      if (dir == dir.root_path()) break;
    }
  }
  return fs::absolute(start) / sub;
}

fs::path default_faceapi_folder(const fs::path& start) { return find_weights_folder("face-api", kManifest, start); }

void load_faceapi_weights(DlibResNet& net, const fs::path& folder) {
  const fs::path manifest_path = folder / kManifest;
  const TfjsWeights weights = TfjsWeights::load(manifest_path);

  std::map<std::string, torch::Tensor> params;
  for (auto& item : net.named_parameters()) params[item.key()] = item.value();
  std::set<std::string> loaded;

  torch::NoGradGuard no_grad;
  for (const auto& [name, stored] : weights.tensors()) {
    torch::Tensor values = stored;
    if (values.dim() == 4) values = hwio_to_oihw(values);
    if (name == "fc") values = values.t().reshape({values.size(1), values.size(0), 1, 1});  // [in, out] -> 1x1 conv

    const std::string target = parameter_name(name);
    auto it = params.find(target);
    if (target.empty() || it == params.end())
      throw Error(manifest_path.string() + ": tensor '" + name + "' has no place in dlib_resnet");
    if (!it->second.sizes().equals(values.sizes()))
      throw Error(manifest_path.string() + ": tensor '" + name + "' has shape " + c10::str(values.sizes()) +
                  ", dlib_resnet expects " + c10::str(it->second.sizes()));
    it->second.copy_(values);
    loaded.insert(target);
  }
  for (const auto& [name, tensor] : params)
    if (!loaded.count(name)) throw Error(manifest_path.string() + ": no weights for dlib_resnet parameter '" + name + "'");
}

}  // namespace toonreid
