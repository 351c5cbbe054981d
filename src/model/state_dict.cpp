#include "model/state_dict.h"


#include <fstream>
#include <map>

#include "core/error.h"
#include "model/torch_pickle.h"

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
  if (!fs::exists(file)) throw Error("cannot read weights file " + file.string() + " (not found)");
  auto entries = read_torch_save_tensors(file);
  // Unwrap {"state_dict": {...}} / {"model": {...}} checkpoints: keep only the wrapped tensors.
  for (const std::string wrapper : {"state_dict.", "model."}) {
    std::vector<std::pair<std::string, torch::Tensor>> inner;
    for (auto& [k, t] : entries)
      if (k.rfind(wrapper, 0) == 0) inner.emplace_back(k.substr(wrapper.size()), t);
    if (!inner.empty()) {
      entries = std::move(inner);
      break;
    }
  }
  for (auto& [k, t] : entries)
    if (k.rfind("module.", 0) == 0) k = k.substr(7);  // DataParallel
  if (entries.empty()) throw Error(file.string() + ": no tensors found");
  return entries;
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
