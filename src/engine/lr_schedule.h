// Learning-rate schedule: linear warm-up from `warmup_factor` x base LR to the base LR
// over `warmup_epochs`, then multi-step decay (x gamma at each milestone epoch) or
// cosine decay to `min_factor` x base LR at the last epoch. Evaluated at fractional
// epochs so that warm-up is smooth within an epoch.
#pragma once

#include <string>
#include <vector>

namespace toonreid {

class Config;
class ConfigSchema;

struct LrScheduleOptions {
  double warmup_epochs = 10;
  double warmup_factor = 0.1;
  std::string decay = "multistep";  // multistep | cosine
  std::vector<long long> milestones = {40, 70};
  double gamma = 0.1;
  double min_factor = 0.0;  // cosine floor
  int epochs = 120;
};

class LrSchedule {
 public:
  explicit LrSchedule(LrScheduleOptions options);
  // Factor of the base LR at `epoch` (0-based, fractional: 2.5 is half-way through epoch 3).
  double factor(double epoch) const;

 private:
  LrScheduleOptions o_;
};

// The schedule's keys of the solver section (solver.warmup_*, decay, milestones, gamma,
// min_lr_factor; solver.epochs is declared with the solver).
void add_lr_schedule_options(ConfigSchema& schema);
LrScheduleOptions lr_schedule_options(const Config& config);

}  // namespace toonreid
