#include "model/state_dict.h"

#include <torch/serialize.h>

#include <fstream>
#include <map>

#include "core/error.h"

namespace toonreid {

namespace fs = std::filesystem;

namespace {

bool is_classifier(const std::string& key) { return key.rfind("fc.", 0) == 0 || key.rfind("classifier.", 0) == 0; }

std::string join(const std::vector<std::string>& xs, std::size_t most = 12) {
  std::string out;
  for (std::size_t i = 0; i < xs.size() && i < most; ++i) out += (i ? ", " : "") + xs[i];
  if (xs.size() > most) out += ", ... (" + std::to_string(xs.size()) + " in all)";
  return out;
}

}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> read_state_dict(const fs::path& file) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) throw Error("cannot read weights file " + file.string());
  std::vector<char> bytes(static_cast<std::size_t>(in.tellg()));
  in.seekg(0);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  torch::IValue value;
  try {
    value = torch::pickle_load(bytes);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    // LibTorch before 2.6 cannot unpickle collections.OrderedDict, which is what
    // model.state_dict() returns (pytorch/pytorch#100741).
    if (what.find("Expected GenericDict but got None") != std::string::npos)
      throw Error(file.string() + ": this LibTorch cannot read an OrderedDict state dict; re-save it as a plain dict: "
                  "python3 -c \"import torch,sys; sd=torch.load(sys.argv[1], map_location='cpu'); "
                  "sd=sd.get('state_dict', sd); torch.save(dict(sd), sys.argv[2])\" IN.pth OUT.pth");
    throw Error(file.string() + ": not a PyTorch file saved by torch.save: " + what.substr(0, 200));
  }
  if (!value.isGenericDict()) throw Error(file.string() + ": expected a dict of tensors (a state dict)");
  c10::Dict<c10::IValue, c10::IValue> dict = value.toGenericDict();
  for (const char* wrapper : {"state_dict", "model"}) {
    auto it = dict.find(c10::IValue(std::string(wrapper)));
    if (it != dict.end() && it->value().isGenericDict()) {
      dict = it->value().toGenericDict();
      break;
    }
  }
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : dict) {
    if (!item.key().isString() || !item.value().isTensor()) continue;
    std::string key = item.key().toStringRef();
    if (key.rfind("module.", 0) == 0) key = key.substr(7);
    out.emplace_back(key, item.value().toTensor());
  }
  if (out.empty()) throw Error(file.string() + ": no tensors found");
  return out;
}

StateDictReport load_state_dict(torch::nn::Module& module, const fs::path& file, bool strict) {
  auto entries = read_state_dict(file);
  std::map<std::string, torch::Tensor> targets;
  for (auto& p : module.named_parameters()) targets[p.key()] = p.value();
  for (auto& b : module.named_buffers()) targets[b.key()] = b.value();

  StateDictReport report;
  std::map<std::string, bool> seen;
  torch::NoGradGuard no_grad;
  for (const auto& [key, tensor] : entries) {
    auto it = targets.find(key);
    if (it == targets.end()) {
      report.unexpected.push_back(key);
      continue;
    }
    seen[key] = true;
    if (!it->second.sizes().equals(tensor.sizes())) {
      if (is_classifier(key)) {
        report.skipped.push_back(key);
        continue;
      }
      throw Error(file.string() + ": '" + key + "' has shape " + c10::str(tensor.sizes()) + ", the model expects " +
                  c10::str(it->second.sizes()));
    }
    it->second.copy_(tensor.to(it->second.dtype()));
    report.loaded.push_back(key);
  }
  for (const auto& [key, tensor] : targets)
    if (!seen.count(key)) report.missing.push_back(key);
  if (strict && !report.missing.empty())
    throw Error(file.string() + ": missing " + std::to_string(report.missing.size()) + " entries: " + join(report.missing));
  return report;
}

}  // namespace toonreid
