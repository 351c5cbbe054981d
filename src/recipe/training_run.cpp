#include "recipe/training_run.h"

#include <iostream>

#include <spdlog/spdlog.h>

#include "data/training_selection.h"
#include "engine/hooks.h"
#include "engine/run_layout.h"
#include "engine/trainer_builder.h"
#include "model/model_checkpoint.h"
#include "recipe/open_set_run.h"
#include "serve/embedder.h"

namespace toonreid {

std::filesystem::path run_training(const RunSetup& run, const std::filesystem::path& out, const std::string& resume,
                                   bool progress) {
  const Config& config = run.config();
  const RunLayout layout(out);
  Dataset data = run.open_data("");
  Dataset train = run.faces(training_data(data, config), progress);

  std::unique_ptr<Trainer> built = build_trainer(config, train, out, run.process_group());
  Trainer& trainer = *built;
  // Rank 0 alone logs and writes checkpoints.
  JsonLogHook* log_ptr = nullptr;
  if (run.is_main()) {
    auto log = std::make_unique<JsonLogHook>(layout.training_log());
    log_ptr = log.get();
    trainer.add_hook(std::make_unique<ProgressHook>(progress));
    trainer.add_hook(std::move(log));
    trainer.add_hook(std::make_unique<CheckpointHook>());
  }
  // Evaluation during training (and best.pt) uses the validation identities when some
  // are held out, else the test split.
  const std::string test_split = config.get_string("data.test_split");
  const auto splits = data.splits();
  Dataset during = validation_data(data, config);
  std::string during_name = "validation";
  if (during.empty() && std::find(splits.begin(), splits.end(), test_split) != splits.end()) {
    during = data.split(test_split);
    during_name = "test split '" + test_split + "'";
  }
  if (config.get_bool("train.eval") && !during.empty()) {
    spdlog::info("evaluation during training on the {} ({} images)", during_name, during.size());
    Dataset faces = run.faces(during, progress);
    trainer.add_hook(std::make_unique<EvalHook>(
        [&run, faces, progress, during_name](ReidModel& model) {
          CrossDomainReport report = run.evaluate(model, run.config(), faces, progress);
          if (!run.is_main()) return nlohmann::json();
          std::cerr << during_name << ":\n" << format_table(report);
          nlohmann::json j = to_json(report);
          j["score"] = 0.5 * (report.c2p.mAP + report.p2c.mAP);
          j["on"] = during_name;
          return j;
        },
        static_cast<int>(config.get_int("train.eval_every")), log_ptr));
  }
  if (const std::string init = config.get_string("model.init_checkpoint"); !init.empty() && resume.empty()) {
    const auto skipped = init_from_checkpoint(trainer.model(), init, run.schema());
    spdlog::info("model initialised from {}{}", init,
                 skipped.empty() ? "" : fmt::format(" (kept new: {})", fmt::join(skipped, ", ")));
  }
  if (!resume.empty()) {
    std::filesystem::path r = resume;
    if (std::filesystem::is_directory(r)) r = RunLayout(r).last_checkpoint();
    trainer.resume(r);
  }
  trainer.train();
  // The thresholds of open-set use belong to the model chosen on validation: calibrated
  // on the same identities, beside it.
  const std::filesystem::path best = layout.best_checkpoint();
  if (run.is_main() && during_name == "validation" && std::filesystem::exists(best)) {
    try {
      Embedder embedder(config, std::filesystem::absolute(best).string());
      Calibration cal = calibrate_model(run, embedder, SplitRequest{}, progress);
      cal.weights = std::filesystem::absolute(best).string();
      cal.save(layout.calibration());
      spdlog::info("open-set thresholds of best.pt on the validation identities: checkpoints/calibration.json");
    } catch (const Error& e) {
      spdlog::warn("no calibration.json beside best.pt: {}", e.what());
    }
  }
  return layout.final_model();
}

}  // namespace toonreid
