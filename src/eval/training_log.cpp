#include "eval/training_log.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace toonreid {

std::vector<EpochRecord> read_training_log(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw Error("cannot read training log " + file.string());
  std::map<int, EpochRecord> epochs;
  std::map<int, std::size_t> iterations;
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw DataError(file.string() + ":" + std::to_string(number) + ": not JSON (" + e.what() + ")");
    }
    if (!j.is_object() || !j.contains("epoch") || !j["epoch"].is_number()) continue;
    const int epoch = j["epoch"].get<int>();
    EpochRecord& r = epochs[epoch];
    r.epoch = epoch;
    const std::string type = j.value("type", "");
    if (type == "iter") {
      const double n = static_cast<double>(++iterations[epoch]);
      for (auto it = j.begin(); it != j.end(); ++it)
        if (it.key().rfind("loss_", 0) == 0 && it->is_number()) {
          double& mean = r.losses[it.key()];
          mean += (it->get<double>() - mean) / n;  // running mean
        }
      if (j.contains("acc") && j["acc"].is_number()) r.accuracy += (j["acc"].get<double>() - r.accuracy) / n;
      if (j.contains("lr") && j["lr"].is_number()) r.lr = j["lr"].get<double>();
    } else if (type == "eval") {
      if (j.contains("C2P") && j["C2P"].contains("mAP")) r.c2p_map = j["C2P"]["mAP"].get<double>();
      if (j.contains("P2C") && j["P2C"].contains("mAP")) r.p2c_map = j["P2C"]["mAP"].get<double>();
    }
  }
  std::vector<EpochRecord> out;
  for (auto& [e, r] : epochs) out.push_back(std::move(r));
  return out;
}

}  // namespace toonreid
