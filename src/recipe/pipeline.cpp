#include "recipe/pipeline.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "recipe/comparison.h"
#include "recipe/ensemble_run.h"
#include "recipe/mining_run.h"
#include "recipe/training_run.h"
#include "core/atomic_file.h"
#include "core/config_schema.h"
#include "core/error.h"
#include "engine/run_layout.h"
#include "eval/training_log.h"

namespace toonreid {

namespace fs = std::filesystem;

namespace {

std::optional<double> final_accuracy(const fs::path& run_dir) {
  const fs::path log = RunLayout(run_dir).training_log();
  if (!fs::exists(log)) return std::nullopt;
  auto epochs = read_training_log(log);
  if (epochs.empty()) return std::nullopt;
  return epochs.back().accuracy;
}

class Pipeline {
 public:
  explicit Pipeline(const PipelineArgs& a) : args_(a), base_(a.config, a.overrides) {
    out_ = a.output.empty() ? fs::path(base_.config().get_string("pipeline.output_dir")) : fs::path(a.output);
    for (const auto& s : base_.config().get_string_list("pipeline.stages"))
      if (!is_stage(s))
        throw ConfigError(base_.config().describe("pipeline.stages") + ": unknown stage '" + s + "'");
  }

  PipelineResult run() {
    fs::create_directories(out_);
    for (const auto& s : base_.config().get_string_list("pipeline.stages")) records_.push_back(run_stage(s));
    PipelineResult result;
    result.table = write_comparison(records_, out_, args_.config);
    result.records = records_;
    result.output_dir = out_;
    return result;
  }

 private:
  std::vector<std::string> with(std::vector<std::string> extra) const {
    std::vector<std::string> o = args_.overrides;
    o.insert(o.end(), extra.begin(), extra.end());
    return o;
  }
  std::vector<std::string> list(const std::string& key) const { return base_.config().get_string_list(key); }
  static std::vector<std::string> join(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }

  // Trains into `dir` unless it already holds a final model; resumes an interrupted run.
  fs::path train(const fs::path& dir, const std::vector<std::string>& overrides) const {
    const fs::path final_model = RunLayout(dir).final_model();
    if (fs::exists(final_model)) return final_model;
    RunSetup run(args_.config, with(join(overrides, {"run.output_dir=" + dir.string()})));
    const std::string resume = fs::exists(RunLayout(dir).last_checkpoint()) ? dir.string() : "";
    if (!resume.empty()) spdlog::info("pipeline: resuming the interrupted training in {}", dir.string());
    return run_training(run, dir, resume, args_.progress);
  }

  SplitRetrieval retrieve(const std::string& model, const std::vector<std::string>& overrides) const {
    RunSetup run(args_.config, with(overrides));
    return run.retrieve_split(SplitRequest{}, model, args_.progress);
  }

  StageRecord run_stage(const std::string& name) {
    const fs::path dir = out_ / name, done = dir / "stage.json";
    if (fs::exists(done)) {
      std::ifstream in(done);
      StageRecord r = stage_record_from_json(nlohmann::json::parse(in));
      spdlog::info("pipeline: {} already done ({:.0f} s), skipped", name, r.seconds);
      remember(r);
      return r;
    }
    spdlog::info("pipeline: stage {}", name);
    fs::create_directories(dir);
    const auto start = std::chrono::steady_clock::now();
    StageRecord r = execute(name, dir);
    r.stage = name;
    if (base_.config().get_string("pipeline.base") == "best" && !r.model.empty() && name != "rerank" && name != "ensemble")
      r.extra["validation_score"] = validation_score(r.model);
    r.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    write_file_atomically(done, to_json(r).dump(2) + "\n");
    remember(r);
    return r;
  }

  void remember(const StageRecord& r) {
    if (r.stage == "baseline" || r.stage == "mdl" || r.stage == "identity_mining" || r.stage == "kmeans") {
      if (base_.config().get_string("pipeline.base") == "best") {
        // Ranked by mean C2P/P2C mAP on the validation identities (never on test).
        const double score = r.extra.contains("validation_score") ? r.extra["validation_score"].get<double>()
                                                                      : validation_score(r.model);
        validated_.emplace_back(score, r.model);
        std::stable_sort(validated_.begin(), validated_.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
        latest_ = validated_.front().second;
        previous_ = validated_.size() > 1 ? validated_[1].second : "";
        spdlog::info("pipeline: {} scores {:.2f} on validation; best so far: {}", r.stage, 100 * score, latest_);
      } else if (r.stage != "kmeans") {  // recipe order: k-means is the baseline IM must beat
        previous_ = latest_;
        latest_ = r.model;
      }
    }
  }

  double validation_score(const std::string& model) const {
    if (base_.config().get_int("data.val_identities") == 0)
      throw ConfigError(base_.config().describe("pipeline.base") + ": choosing the best stage needs validation "
                        "identities (set data.val_identities)");
    RunSetup run(args_.config, args_.overrides);
    SplitRequest on_validation;
    on_validation.split = "validation";
    const auto directions = run.retrieve_split(on_validation, model, args_.progress).directions;
    double sum = 0;
    for (const auto& d : directions) sum += d.metrics.mAP;
    return directions.empty() ? 0.0 : sum / static_cast<double>(directions.size());
  }

  std::string need_latest(const std::string& stage) const {
    if (latest_.empty()) throw ConfigError("pipeline: stage '" + stage + "' needs a trained model from an earlier stage");
    return latest_;
  }

  StageRecord execute(const std::string& name, const fs::path& dir) {
    StageRecord r;
    if (name == "baseline") {
      r.model = train(dir, list("pipeline.baseline")).string();
      r.train_accuracy = final_accuracy(dir);
    } else if (name == "mdl") {
      const fs::path stage1 = train(dir / "stage1", list("pipeline.mdl_stage1"));
      r.model = train(dir / "stage2", join(list("pipeline.mdl_stage2"), {"model.init_checkpoint=" + stage1.string()})).string();
      r.train_accuracy = final_accuracy(dir / "stage2");
      r.extra["stage1"] = stage1.string();
    } else if (name == "identity_mining" || name == "kmeans") {
      const std::string source = need_latest(name);
      const SplitRetrieval test = retrieve(source, {});
      r.extra["mining"] = mine_split(test, base_.config(), name == "kmeans" ? "kmeans" : "identity", dir);
      r.model = train(dir / "retrain", join(list("pipeline.retrain"),
                                            {"data.extra_train=[" + (dir / "pseudo_labels.csv").string() + "]",
                                             "model.init_checkpoint=" + source}))
                    .string();
      r.train_accuracy = final_accuracy(dir / "retrain");
      r.extra["mined_from"] = source;
    } else if (name == "rerank") {
      r.model = need_latest(name);
      r.metrics = to_json(retrieve(r.model, {"test.rerank.enabled=true"}).directions);
      return r;
    } else if (name == "ensemble") {
      if (previous_.empty()) throw ConfigError("pipeline: the ensemble stage needs two trained models from earlier stages");
      const Config& c = base_.config();
      EnsembleRequest request;
      request.members = join({latest_, previous_}, list("pipeline.ensemble_members"));
      request.combination = parse_ensemble_combination(c.get_string("pipeline.ensemble_combine"));
      request.choose_weights = c.get_string("pipeline.ensemble_weights") == "validation";
      request.weight_step = c.get_float("pipeline.ensemble_weight_step");
      request.overrides = with({"test.rerank.enabled=true"});
      const RunSetup reranked(args_.config, request.overrides);
      const EnsembleResult e = run_ensemble(reranked, SplitRequest{}, request, args_.progress);
      r.model = latest_;
      r.extra["models"] = request.members;
      if (!e.weights.empty()) r.extra["weights"] = e.weights;
      if (e.chosen) r.extra["weights_validation_map"] = e.chosen->mean_map;
      r.metrics = to_json(e.combined);
      return r;
    }
    r.metrics = to_json(retrieve(r.model, {}).directions);
    return r;
  }

  PipelineArgs args_;
  RunSetup base_;
  fs::path out_;
  std::vector<StageRecord> records_;
  std::string latest_, previous_;
  std::vector<std::pair<double, std::string>> validated_;  // pipeline.base: best
};

}  // namespace

void add_pipeline_options(ConfigSchema& schema) {
  schema.describe_section("pipeline", "toonreid pipeline: the stages to run and each stage's config overrides.");
  schema.add_string_list("pipeline.stages", {"baseline", "mdl", "identity_mining", "kmeans", "rerank", "ensemble"},
                         "Stages in order: baseline, mdl, identity_mining, kmeans, rerank, ensemble");
  schema.add_string("pipeline.output_dir", "runs/pipeline", "Folder of the stage folders and the comparison");
  schema.add_string("pipeline.base", "latest",
                    "Models the rerank and ensemble stages use: the latest trained in recipe order (IM, then MDL), "
                    "or the best two by mean C2P/P2C mAP on the validation identities (data.val_identities)")
      .one_of({"latest", "best"});
  schema.add_string_list("pipeline.baseline", {}, "Overrides of the baseline training");
  schema.add_string_list("pipeline.mdl_stage1", {"data.selection=mdl_pretrain"},
                         "Overrides of MDL stage 1 (pre-training on the target domain + N identities of the other)");
  schema.add_string_list("pipeline.mdl_stage2",
                         {"data.selection=target_domain", "solver.freeze_stages=2", "solver.base_lr=0.001",
                          "solver.head_lr_factor=10"},
                         "Overrides of MDL stage 2 (fine-tuning on the target domain; started from stage 1)");
  schema.add_string_list("pipeline.retrain", {},
                         "Overrides of the retraining with pseudo-labels (started from the mined model)");
  schema.add_string_list("pipeline.ensemble_members", {},
                         "Further members of the ensemble stage beside its two models: checkpoints, 'pretrained' or "
                         "'pretrained:CONFIG' (another config's network and input pipeline, zero-shot: a second "
                         "backbone; the path relative to the working folder)");
  schema.add_string("pipeline.ensemble_combine", "distances",
                    "How the ensemble stage combines its members: their re-ranked distances, or their features "
                    "(concatenated with the weights, then re-ranked)")
      .one_of({"distances", "features"});
  schema.add_string("pipeline.ensemble_weights", "equal",
                    "The members' weights: equal, or chosen on the validation identities (data.val_identities) on a "
                    "grid of step pipeline.ensemble_weight_step")
      .one_of({"equal", "validation"});
  schema.add_float("pipeline.ensemble_weight_step", 0.1, "Grid step of pipeline.ensemble_weights: validation")
      .range(0.01, 0.5);
}

PipelineResult run_pipeline(const PipelineArgs& args) { return Pipeline(args).run(); }

}  // namespace toonreid
