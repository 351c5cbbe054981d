#include "engine/hooks.h"

#include <spdlog/spdlog.h>

#include <cstdio>

#include "core/atomic_file.h"
#include "core/progress.h"
#include "engine/run_layout.h"

namespace toonreid {

namespace fs = std::filesystem;

FreezeHook::FreezeHook(FreezeOptions options) : options_(options) {}

void FreezeHook::before_epoch(Trainer& t) {
  const bool frozen = options_.stages > 0 && (options_.epochs == 0 || t.epoch() < options_.epochs);
  const int want = frozen ? options_.stages : 0;
  if (t.model()->frozen_stages() == want) return;
  t.model()->freeze_stages(want);
  if (want > 0) spdlog::info("backbone stages 0..{} frozen", want - 1);
  else spdlog::info("backbone stages unfrozen at epoch {}", t.epoch() + 1);
  t.trainable_parameters_changed();
}

LrScheduleHook::LrScheduleHook(LrScheduleOptions options) : schedule_(std::move(options)) {}

void LrScheduleHook::before_iteration(Trainer& t, int batch, int batches) {
  t.set_lr_factor(schedule_.factor(t.epoch() + static_cast<double>(batch) / batches));
}

ProgressHook::ProgressHook(bool show_bar) : show_bar_(show_bar) {}
ProgressHook::~ProgressHook() = default;

void ProgressHook::after_iteration(Trainer& t, const IterationStats& s) {
  if (!bar_) {
    char label[32];
    std::snprintf(label, sizeof label, "epoch %d/%d", s.epoch + 1, t.total_epochs());
    bar_ = std::make_unique<ProgressBar>(static_cast<std::size_t>(s.batches), label, show_bar_);
  }
  char status[160];
  std::snprintf(status, sizeof status, "loss %.3f acc %.1f%% lr %.2e %.0f img/s", s.losses.at("total"),
                100 * s.accuracy, s.lr, s.images_per_second);
  bar_->set_status(status);
  bar_->advance();
}

void ProgressHook::after_epoch(Trainer& t, const EpochStats& s) {
  bar_.reset();
  std::string losses;
  for (const auto& [k, v] : s.mean_losses) losses += fmt::format(" {} {:.4f}", k, v);
  spdlog::info("epoch {}/{}:{} acc {:.1f}% ({:.0f} s)", s.epoch + 1, t.total_epochs(), losses, 100 * s.mean_accuracy,
               s.seconds);
}

JsonLogHook::JsonLogHook(const fs::path& file) {
  fs::create_directories(file.parent_path());
  out_.open(file, std::ios::app);
  if (!out_) throw Error("cannot write training log " + file.string());
}

void JsonLogHook::write(const nlohmann::json& record) { out_ << record.dump() << '\n' << std::flush; }

void JsonLogHook::after_iteration(Trainer&, const IterationStats& s) {
  nlohmann::json r = {{"type", "iter"}, {"epoch", s.epoch + 1}, {"iter", s.iteration}, {"lr", s.lr},
                      {"acc", s.accuracy}, {"img_per_s", s.images_per_second},
                      {"step_s", s.seconds}, {"sync_wait_s", s.sync_wait_seconds}};
  for (const auto& [k, v] : s.losses) r["loss_" + k] = v;
  write(r);
}

void JsonLogHook::after_epoch(Trainer&, const EpochStats& s) {
  nlohmann::json r = {{"type", "epoch"}, {"epoch", s.epoch + 1}, {"acc", s.mean_accuracy}, {"seconds", s.seconds}};
  for (const auto& [k, v] : s.mean_losses) r["loss_" + k] = v;
  write(r);
}

void CheckpointHook::after_epoch(Trainer& t, const EpochStats&) {
  t.save_checkpoint(RunLayout(t.output_dir()).last_checkpoint());
}

void CheckpointHook::after_train(Trainer& t) { t.save_checkpoint(RunLayout(t.output_dir()).final_model()); }

EvalHook::EvalHook(Evaluate evaluate, int every, JsonLogHook* log)
    : evaluate_(std::move(evaluate)), every_(every), log_(log) {}

void EvalHook::after_epoch(Trainer& t, const EpochStats&) {
  const bool last = t.epoch() == t.total_epochs();
  if (last || (every_ > 0 && t.epoch() % every_ == 0)) run(t);
}

void EvalHook::run(Trainer& t) {
  nlohmann::json metrics = evaluate_(t.model());
  if (!t.is_main()) return;  // a data-parallel rank helped extract; rank 0 reports and keeps best.pt
  metrics["epoch"] = t.epoch();
  write_file_atomically(RunLayout(t.output_dir()).evaluation(t.epoch()), metrics.dump(2) + "\n");
  if (log_) {
    nlohmann::json r = metrics;
    r["type"] = "eval";
    log_->write(r);
  }
  const double score = metrics.value("score", -1.0);
  if (score > t.best_metric()) {
    t.set_best_metric(score);
    t.save_checkpoint(RunLayout(t.output_dir()).best_checkpoint());
    spdlog::info("epoch {}: new best score {:.4f}, saved checkpoints/best.pt", t.epoch(), score);
  }
}

}  // namespace toonreid
