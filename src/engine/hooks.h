// Standard trainer hooks: console progress, JSON-lines log, checkpoints, evaluation.
#pragma once

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>

#include <nlohmann/json.hpp>

#include "engine/trainer.h"

namespace toonreid {

class ProgressBar;

// A progress bar per epoch (loss, accuracy, LR, images/s, ETA) and a log line per epoch.
class ProgressHook : public TrainerHook {
 public:
  explicit ProgressHook(bool show_bar);
  ~ProgressHook() override;
  void after_iteration(Trainer& t, const IterationStats& s) override;
  void after_epoch(Trainer& t, const EpochStats& s) override;

 private:
  bool show_bar_;
  std::unique_ptr<ProgressBar> bar_;
};

// One JSON object per line: {"type": "iter", ...} for every iteration, {"type": "epoch", ...}
// per epoch and {"type": "eval", ...} per evaluation. Appends, so a resumed run continues the file.
class JsonLogHook : public TrainerHook {
 public:
  explicit JsonLogHook(const std::filesystem::path& file);
  void after_iteration(Trainer& t, const IterationStats& s) override;
  void after_epoch(Trainer& t, const EpochStats& s) override;
  void write(const nlohmann::json& record);

 private:
  std::ofstream out_;
};

// checkpoints/last.pt after every epoch, model_final.pt at the end (atomic writes).
class CheckpointHook : public TrainerHook {
 public:
  void after_epoch(Trainer& t, const EpochStats& s) override;
  void after_train(Trainer& t) override;
};

// Evaluates every `every` epochs (0: only at the end) with `evaluate`, which returns
// metrics JSON with a numeric "score" (higher is better); keeps checkpoints/best.pt.
// In a data-parallel job it runs on every rank (extraction is shared) and only rank 0's
// result is used.
class EvalHook : public TrainerHook {
 public:
  using Evaluate = std::function<nlohmann::json(ReidModel&)>;
  EvalHook(Evaluate evaluate, int every, JsonLogHook* log);
  void after_epoch(Trainer& t, const EpochStats& s) override;

 private:
  void run(Trainer& t);
  Evaluate evaluate_;
  int every_;
  JsonLogHook* log_;
};

}  // namespace toonreid
