#include "cli/training_run.h"

#include <iostream>

#include <spdlog/spdlog.h>

#include "data/training_selection.h"
#include "engine/hooks.h"
#include "engine/trainer.h"
#include "model/model_checkpoint.h"

namespace toonreid::cli {

std::filesystem::path run_training(const RunSetup& run, const std::filesystem::path& out, const std::string& resume,
                                   bool progress) {
  const Config& config = run.config();
  Dataset data = run.open_data("");
  Dataset train = run.faces(training_data(data, config));

  Trainer trainer(config, train, out);
  auto log = std::make_unique<JsonLogHook>(out / "train_log.jsonl");
  JsonLogHook* log_ptr = log.get();
  trainer.add_hook(std::make_unique<ProgressHook>(progress));
  trainer.add_hook(std::move(log));
  trainer.add_hook(std::make_unique<CheckpointHook>());
  const std::string test_split = config.get_string("data.test_split");
  const auto splits = data.splits();
  if (config.get_bool("train.eval") && std::find(splits.begin(), splits.end(), test_split) != splits.end()) {
    Dataset test = run.faces(data.split(test_split));
    trainer.add_hook(std::make_unique<EvalHook>(
        [&run, test, progress](ReidModel& model) {
          CrossDomainReport report = run.evaluate(model, run.config(), test, progress);
          std::cerr << format_table(report);
          nlohmann::json j = to_json(report);
          j["score"] = 0.5 * (report.c2p.mAP + report.p2c.mAP);
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
    if (std::filesystem::is_directory(r)) r = r / "checkpoints" / "last.pt";
    trainer.resume(r);
  }
  trainer.train();
  return out / "model_final.pt";
}

}  // namespace toonreid::cli
