#include "model/faceapi_weights.h"

#include <nlohmann/json.hpp>
#include <torch/utils.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "core/error.h"
#include "model/dlib_resnet.h"

namespace toonreid {

namespace fs = std::filesystem;

namespace {

const char* kManifest = "face_recognition_model-weights_manifest.json";

std::vector<char> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary | std::ios::ate);
  if (!in) throw Error("cannot read " + p.string() + " (run `make deps` to fetch the face-api weights)");
  std::vector<char> data(static_cast<std::size_t>(in.tellg()));
  in.seekg(0);
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  return data;
}

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

fs::path default_faceapi_folder(const fs::path& start) {
  if (const char* env = std::getenv("TOONREID_WEIGHTS_DIR"); env && *env) return fs::path(env) / "face-api";
  // The project holding the working directory, else the one holding this program
  // (build/toonreid run from anywhere).
  std::vector<fs::path> starts = {fs::absolute(start)};
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) starts.push_back(exe.parent_path());
  for (const fs::path& from : starts) {
    for (fs::path dir = from; !dir.empty(); dir = dir.parent_path()) {
      if (fs::exists(dir / ".cache/weights/face-api" / kManifest)) return dir / ".cache/weights/face-api";
      if (dir == dir.root_path()) break;
    }
  }
  return fs::absolute(start) / ".cache/weights/face-api";
}

void load_faceapi_weights(DlibResNet& net, const fs::path& folder) {
  const fs::path manifest_path = folder / kManifest;
  nlohmann::json manifest;
  try {
    std::vector<char> text = read_bytes(manifest_path);
    manifest = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    throw Error(manifest_path.string() + ": invalid JSON: " + e.what());
  }
  if (!manifest.is_array() || manifest.empty() || !manifest[0].contains("weights") || !manifest[0].contains("paths"))
    throw Error(manifest_path.string() + ": not a tfjs weights manifest");

  std::vector<char> bin;
  for (const auto& p : manifest[0]["paths"]) {
    std::vector<char> part = read_bytes(folder / p.get<std::string>());
    bin.insert(bin.end(), part.begin(), part.end());
  }

  std::map<std::string, torch::Tensor> params;
  for (auto& item : net.named_parameters()) params[item.key()] = item.value();
  std::set<std::string> loaded;

  torch::NoGradGuard no_grad;
  std::size_t offset = 0;
  for (const auto& w : manifest[0]["weights"]) {
    const std::string name = w.at("name");
    std::vector<int64_t> shape = w.at("shape").get<std::vector<int64_t>>();
    int64_t numel = 1;
    for (int64_t s : shape) numel *= s;
    torch::Tensor values;
    if (w.contains("quantization")) {
      const auto& q = w["quantization"];
      if (q.at("dtype") != "uint8") throw Error(manifest_path.string() + ": " + name + ": only uint8 quantisation is supported");
      if (offset + static_cast<std::size_t>(numel) > bin.size()) throw Error(manifest_path.string() + ": weights file too short at " + name);
      torch::Tensor raw = torch::from_blob(bin.data() + offset, {numel}, torch::kUInt8).to(torch::kFloat);
      values = raw * q.at("scale").get<double>() + q.at("min").get<double>();
      offset += static_cast<std::size_t>(numel);
    } else {
      if (w.at("dtype") != "float32") throw Error(manifest_path.string() + ": " + name + ": unsupported dtype");
      const std::size_t bytes = static_cast<std::size_t>(numel) * 4;
      if (offset + bytes > bin.size()) throw Error(manifest_path.string() + ": weights file too short at " + name);
      values = torch::from_blob(bin.data() + offset, {numel}, torch::kFloat).clone();
      offset += bytes;
    }
    values = values.view(shape);
    if (shape.size() == 4) values = values.permute({3, 2, 0, 1});                   // HWIO -> OIHW
    if (name == "fc") values = values.t().reshape({shape[1], shape[0], 1, 1});      // [in, out] -> 1x1 conv

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
  if (offset != bin.size()) throw Error(manifest_path.string() + ": weights file has trailing bytes");
  for (const auto& [name, tensor] : params)
    if (!loaded.count(name)) throw Error(manifest_path.string() + ": no weights for dlib_resnet parameter '" + name + "'");
}

}  // namespace toonreid
