// Reads the JSON-lines log `toonreid train` writes (train_log.jsonl) into per-epoch
// curves: mean of every loss component and of the accuracy over the epoch's
// iterations, and the evaluation metrics where an epoch was evaluated.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace toonreid {

struct EpochRecord {
  int epoch = 0;
  std::map<std::string, double> losses;  // "loss_total", "loss_id", ... : epoch means
  double accuracy = 0;
  double lr = 0;                         // at the epoch's last iteration
  std::optional<double> c2p_map, p2c_map;
};

// Epochs in order. Unparseable lines are reported as DataError with their line number.
std::vector<EpochRecord> read_training_log(const std::filesystem::path& file);

}  // namespace toonreid
