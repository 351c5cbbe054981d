#include "engine/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "core/config.h"
#include "core/error.h"

namespace toonreid {

LrSchedule::LrSchedule(LrScheduleOptions options) : o_(std::move(options)) {
  if (o_.decay != "multistep" && o_.decay != "cosine") throw Error("unknown LR decay '" + o_.decay + "'");
}

double LrSchedule::factor(double epoch) const {
  double decay = 1.0;
  if (o_.decay == "multistep") {
    for (long long m : o_.milestones)
      if (epoch >= static_cast<double>(m)) decay *= o_.gamma;
  } else {
    // Cosine from the end of warm-up to the last epoch.
    const double start = o_.warmup_epochs, span = std::max(1e-9, o_.epochs - start);
    const double t = std::clamp((epoch - start) / span, 0.0, 1.0);
    decay = o_.min_factor + (1 - o_.min_factor) * 0.5 * (1 + std::cos(3.14159265358979323846 * t));
  }
  if (epoch < o_.warmup_epochs) {
    const double alpha = epoch / o_.warmup_epochs;
    return (o_.warmup_factor * (1 - alpha) + alpha) * decay;
  }
  return decay;
}

void add_lr_schedule_options(ConfigSchema& schema) {
  schema.add_float("solver.warmup_epochs", 10, "Linear warm-up length in epochs (0: none)").range(0, 100000);
  schema.add_float("solver.warmup_factor", 0.1, "LR factor at the start of warm-up").range(0, 1);
  schema.add_string("solver.decay", "multistep", "After warm-up: multistep or cosine").one_of({"multistep", "cosine"});
  schema.add_int_list("solver.milestones", {20, 30}, "Multistep: epochs where the LR is multiplied by gamma").min(1);
  schema.add_float("solver.gamma", 0.1, "Multistep decay factor").greater_than(0).max(1);
  schema.add_float("solver.min_lr_factor", 0.0, "Cosine: final LR factor").range(0, 1);
}

LrScheduleOptions lr_schedule_options(const Config& config) {
  LrScheduleOptions o;
  o.warmup_epochs = config.get_float("solver.warmup_epochs");
  o.warmup_factor = config.get_float("solver.warmup_factor");
  o.decay = config.get_string("solver.decay");
  o.milestones = config.get_int_list("solver.milestones");
  o.gamma = config.get_float("solver.gamma");
  o.min_factor = config.get_float("solver.min_lr_factor");
  o.epochs = static_cast<int>(config.get_int("solver.epochs"));
  if (!std::is_sorted(o.milestones.begin(), o.milestones.end()))
    throw ConfigError(config.describe("solver.milestones") + ": milestones must be increasing");
  return o;
}

}  // namespace toonreid
