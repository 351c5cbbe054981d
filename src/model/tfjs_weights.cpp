#include "model/tfjs_weights.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <fstream>

#include "core/error.h"

namespace toonreid {

namespace fs = std::filesystem;

namespace {

std::vector<char> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary | std::ios::ate);
  if (!in) throw Error("cannot read " + p.string() + " (run `make deps` to fetch the face-api weights)");
  std::vector<char> data(static_cast<std::size_t>(in.tellg()));
  in.seekg(0);
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  return data;
}

}  // namespace

TfjsWeights TfjsWeights::load(const fs::path& manifest_path, const std::string& key) {
  nlohmann::json manifest;
  try {
    std::vector<char> text = read_bytes(manifest_path);
    manifest = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    throw Error(manifest_path.string() + ": invalid JSON: " + e.what());
  }
  if (!key.empty()) {
    if (!manifest.is_object() || !manifest.contains(key))
      throw Error(manifest_path.string() + ": no '" + key + "' (not a tfjs graph model)");
    manifest = manifest[key];
  }
  if (!manifest.is_array() || manifest.empty()) throw Error(manifest_path.string() + ": not a tfjs weights manifest");

  TfjsWeights out;
  out.origin_ = manifest_path;
  try {
    for (const auto& group : manifest) {
      if (!group.contains("weights") || !group.contains("paths"))
        throw Error(manifest_path.string() + ": not a tfjs weights manifest");
      std::vector<char> bin;
      for (const auto& p : group["paths"]) {
        std::vector<char> part = read_bytes(manifest_path.parent_path() / p.get<std::string>());
        bin.insert(bin.end(), part.begin(), part.end());
      }
      std::size_t offset = 0;
      for (const auto& w : group["weights"]) {
        const std::string name = w.at("name");
        const std::vector<int64_t> shape = w.at("shape").get<std::vector<int64_t>>();
        int64_t numel = 1;
        for (int64_t s : shape) numel *= s;
        const std::string dtype = w.at("dtype");
        torch::Tensor values;
        if (w.contains("quantization")) {
          const auto& q = w["quantization"];
          if (q.at("dtype") == "float16") {
            // tfjs' float16 "quantisation": IEEE half floats, widened exactly to float32.
            const std::size_t bytes = static_cast<std::size_t>(numel) * 2;
            if (offset + bytes > bin.size()) throw Error(manifest_path.string() + ": weights file too short at " + name);
            values = torch::from_blob(bin.data() + offset, {numel}, torch::kHalf).to(torch::kFloat);
            if (dtype == "int32") values = values.round().to(torch::kInt);
            offset += bytes;
            out.tensors_[name] = values.view(shape);
            out.taken_[name] = false;
            continue;
          }
          if (q.at("dtype") != "uint8")
            throw Error(manifest_path.string() + ": " + name + ": only uint8 and float16 quantisation are supported");
          if (offset + static_cast<std::size_t>(numel) > bin.size())
            throw Error(manifest_path.string() + ": weights file too short at " + name);
          torch::Tensor raw = torch::from_blob(bin.data() + offset, {numel}, torch::kUInt8).to(torch::kDouble);
          // The same arithmetic as tfjs' dequantisation: in double, stored as float32.
          values = (raw * q.at("scale").get<double>() + q.at("min").get<double>()).to(torch::kFloat);
          if (dtype == "int32") values = values.round().to(torch::kInt);
          offset += static_cast<std::size_t>(numel);
        } else {
          if (dtype != "float32" && dtype != "int32")
            throw Error(manifest_path.string() + ": " + name + ": unsupported dtype " + dtype);
          const std::size_t bytes = static_cast<std::size_t>(numel) * 4;
          if (offset + bytes > bin.size()) throw Error(manifest_path.string() + ": weights file too short at " + name);
          values = torch::from_blob(bin.data() + offset, {numel}, dtype == "float32" ? torch::kFloat : torch::kInt).clone();
          offset += bytes;
        }
        out.tensors_[name] = values.view(shape);
        out.taken_[name] = false;
      }
      if (offset != bin.size()) throw Error(manifest_path.string() + ": weights file has trailing bytes");
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(manifest_path.string() + ": malformed manifest: " + e.what());
  }
  return out;
}

at::Tensor TfjsWeights::take(const std::string& name, int rank) {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw Error(origin_.string() + ": tensor '" + name + "' is missing");
  if (it->second.dim() != rank)
    throw Error(origin_.string() + ": tensor '" + name + "' has shape " + c10::str(it->second.sizes()) + ", expected " +
                std::to_string(rank) + " dimensions");
  taken_[name] = true;
  return it->second;
}

void TfjsWeights::expect_all_taken(const std::vector<std::string>& ignored_prefixes) const {
  for (const auto& [name, used] : taken_) {
    if (used || tensors_.at(name).scalar_type() != torch::kFloat) continue;
    bool ignored = false;
    for (const auto& p : ignored_prefixes) ignored |= name.rfind(p, 0) == 0;
    if (!ignored) throw Error(origin_.string() + ": tensor '" + name + "' has no place in the network");
  }
}

at::Tensor hwio_to_oihw(const at::Tensor& filters) { return filters.permute({3, 2, 0, 1}).contiguous(); }

at::Tensor depthwise_to_oihw(const at::Tensor& filters) {
  // [H, W, C, 1] -> [C, 1, H, W]
  return filters.permute({2, 3, 0, 1}).contiguous();
}

}  // namespace toonreid
