// Standard trainer hooks: the solver's (frozen stages, LR schedule) and those around the
// loop (console progress, JSON-lines log, checkpoints, evaluation). Their order is the
// trainer's (engine/trainer.h); build_trainer adds FreezeHook and LrScheduleHook first.
#pragma once

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>

#include <nlohmann/json.hpp>

#include "engine/trainer.h"

namespace toonreid {

class ProgressBar;

// Keeps the first `stages` backbone stages frozen for the first `epochs` epochs (0: all of
// training), checked before every epoch (so a resumed run finds the right state).
class FreezeHook : public TrainerHook {
 public:
  explicit FreezeHook(FreezeOptions options);
  void before_epoch(Trainer& t) override;

 private:
  FreezeOptions options_;
};

// Sets every optimiser group's LR to its base LR x the schedule's factor at the
// fractional epoch (epoch + batch / batches) before each step.
class LrScheduleHook : public TrainerHook {
 public:
  explicit LrScheduleHook(LrScheduleOptions options);
  void before_iteration(Trainer& t, int batch, int batches) override;

 private:
  LrSchedule schedule_;
};

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
