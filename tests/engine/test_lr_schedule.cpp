#include "engine/lr_schedule.h"
#include "engine/solver.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/config.h"
#include "core/error.h"

namespace toonreid {
namespace {

TEST(LrSchedule, WarmupThenMultistep) {
  LrScheduleOptions o;
  o.warmup_epochs = 10;
  o.warmup_factor = 0.1;
  o.milestones = {20, 30};
  o.gamma = 0.1;
  o.epochs = 40;
  LrSchedule s(o);
  EXPECT_NEAR(s.factor(0), 0.1, 1e-12);      // paper: 1e-3 at the start for base 1e-2
  EXPECT_NEAR(s.factor(5), 0.55, 1e-12);     // half-way through warm-up
  EXPECT_NEAR(s.factor(10), 1.0, 1e-12);
  EXPECT_NEAR(s.factor(19.99), 1.0, 1e-12);
  EXPECT_NEAR(s.factor(20), 0.1, 1e-12);
  EXPECT_NEAR(s.factor(35), 0.01, 1e-12);
  for (double e = 0; e < 9.9; e += 0.5) EXPECT_LT(s.factor(e), s.factor(e + 0.1));  // rising warm-up
}

TEST(LrSchedule, CosineFromWarmupEndToFloor) {
  LrScheduleOptions o;
  o.warmup_epochs = 2;
  o.warmup_factor = 0.0;
  o.decay = "cosine";
  o.min_factor = 0.01;
  o.epochs = 12;
  LrSchedule s(o);
  EXPECT_NEAR(s.factor(0), 0.0, 1e-12);
  EXPECT_NEAR(s.factor(2), 1.0, 1e-12);
  EXPECT_NEAR(s.factor(7), 0.01 + 0.99 * 0.5, 1e-12);  // half-way: cos(pi/2) = 0
  EXPECT_NEAR(s.factor(12), 0.01, 1e-12);
  EXPECT_NEAR(s.factor(50), 0.01, 1e-12);
}

TEST(LrSchedule, NoWarmupAndConfigValidation) {
  ConfigSchema schema;
  add_solver_options(schema);
  Config c = make_config(schema, {"solver.warmup_epochs=0", "solver.milestones=[3]", "solver.gamma=0.5"});
  LrSchedule s(lr_schedule_options(c));
  EXPECT_NEAR(s.factor(0), 1.0, 1e-12);
  EXPECT_NEAR(s.factor(3), 0.5, 1e-12);
  Config bad = make_config(schema, {"solver.milestones=[30, 20]"});
  EXPECT_THROW(lr_schedule_options(bad), ConfigError);
}

}  // namespace
}  // namespace toonreid
