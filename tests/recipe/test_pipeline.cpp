// The recipe as a library: run_pipeline's stages, skipping finished stages, resuming an
// interrupted training, choosing the best stages on validation; no command line involved.
#include <gtest/gtest.h>

#include <fstream>

#include "model/model_checkpoint.h"
#include "recipe/ensemble_run.h"
#include "recipe/pipeline.h"
#include "recipe/recipe_fixture.h"
#include "toonreid_schema.h"

namespace toonreid {
namespace {

namespace fs = std::filesystem;
using testing::RecipeData;

PipelineArgs pipeline_args(const fs::path& out, std::vector<std::string> overrides) {
  PipelineArgs a;
  a.config = RecipeData::config();
  a.output = out.string();
  a.progress = false;
  a.overrides = {"data.root=" + RecipeData::root().string(), "solver.epochs=1", "train.eval=false"};
  a.overrides.insert(a.overrides.end(), overrides.begin(), overrides.end());
  return a;
}

TEST(Pipeline, RunsEveryStageSkipsFinishedOnesAndResumesAnInterruptedTraining) {
  testing::TempDir dir;
  const fs::path out = dir / "pipeline";
  const PipelineArgs args = pipeline_args(out, {"sampler.p=3", "sampler.k=2", "mdl.aux_identities=1", "mining.d_n=0.3",
                                                "mining.d_p=5", "mining.kmeans_k=3",
                                                "pipeline.mdl_stage2=[data.selection=target_domain,solver.freeze_stages=2]"});
  const PipelineResult first = run_pipeline(args);
  ASSERT_EQ(first.records.size(), 6u);
  const std::vector<std::string> stages{"baseline", "mdl", "identity_mining", "kmeans", "rerank", "ensemble"};
  for (std::size_t i = 0; i < stages.size(); ++i) {
    EXPECT_EQ(first.records[i].stage, stages[i]);
    EXPECT_TRUE(first.records[i].metrics.contains("C2P")) << stages[i];
    EXPECT_TRUE(fs::exists(out / stages[i] / "stage.json")) << stages[i];
    EXPECT_NE(first.table.find(std::string("| ") + stage_label(stages[i]) + " |"), std::string::npos) << first.table;
  }
  EXPECT_EQ(first.records[2].extra["mining"]["quality"]["labelled"].get<int>(), 18);  // d_p = 5: everything
  for (const char* f : {"comparison.md", "comparison.json", "comparison.html"}) EXPECT_TRUE(fs::exists(out / f)) << f;

  // MDL stage 2 kept the first two backbone stages of stage 1 (frozen), changed the rest.
  {
    ConfigSchema schema = toonreid_schema();
    LoadedModel s1 = load_model_checkpoint(out / "mdl" / "stage1" / "model_final.pt", schema);
    LoadedModel s2 = load_model_checkpoint(out / "mdl" / "stage2" / "model_final.pt", schema);
    auto p1 = s1.model->named_parameters();
    bool later_changed = false;
    for (const auto& p : s2.model->named_parameters()) {
      const std::string& k = p.key();
      if (k.find("classifier") != std::string::npos || !p1.contains(k)) continue;
      const bool frozen = k.find("backbone.conv1.") != std::string::npos || k.find("backbone.bn1.") != std::string::npos ||
                          k.find("backbone.layer1.") != std::string::npos;
      if (frozen) EXPECT_TRUE(torch::equal(p.value(), p1[k])) << k;
      else if (!torch::equal(p.value(), p1[k])) later_changed = true;
    }
    EXPECT_TRUE(later_changed);
  }

  // Interrupt the IM stage: its record and final model gone, its last checkpoint kept.
  fs::remove(out / "identity_mining" / "stage.json");
  fs::remove(out / "identity_mining" / "retrain" / "model_final.pt");
  ASSERT_TRUE(fs::exists(out / "identity_mining" / "retrain" / "checkpoints" / "last.pt"));
  testing::LogCapture log;
  const PipelineResult again = run_pipeline(args);
  EXPECT_NE(log.text().find("baseline already done"), std::string::npos) << log.text();
  EXPECT_NE(log.text().find("mdl already done"), std::string::npos) << log.text();
  EXPECT_NE(log.text().find("resuming the interrupted training"), std::string::npos) << log.text();
  EXPECT_TRUE(fs::exists(out / "identity_mining" / "retrain" / "model_final.pt"));
  // Skipped stages report what they recorded the first time.
  EXPECT_EQ(again.records[0].metrics, first.records[0].metrics);
  EXPECT_EQ(again.records[0].seconds, first.records[0].seconds);

  PipelineArgs bad = args;
  bad.overrides.push_back("pipeline.stages=[baseline,magic]");
  try {
    run_pipeline(bad);
    FAIL() << "an unknown stage was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("unknown stage 'magic'"), std::string::npos) << e.what();
  }
}

TEST(Pipeline, BaseBestReranksTheBestStageOnValidation) {
  testing::TempDir dir;
  PipelineArgs args = pipeline_args(dir / "best", {"sampler.p=2", "sampler.k=2", "mining.kmeans_k=3",
                                                   "pipeline.stages=[baseline,kmeans,rerank,ensemble]", "pipeline.base=best"});
  PipelineArgs no_validation = args;
  no_validation.output = (dir / "no_validation").string();
  args.overrides.push_back("data.val_identities=1");
  const PipelineResult r = run_pipeline(args);
  ASSERT_EQ(r.records.size(), 4u);
  const double base = r.records[0].extra["validation_score"].get<double>();
  const double km = r.records[1].extra["validation_score"].get<double>();
  EXPECT_EQ(r.records[2].model, base >= km ? r.records[0].model : r.records[1].model);  // re-ranked the better one
  EXPECT_EQ(r.records[3].extra["models"].size(), 2u);
  try {
    run_pipeline(no_validation);
    FAIL() << "pipeline.base=best ran without validation identities";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("data.val_identities"), std::string::npos) << e.what();
  }
}


// The cross-network recipe on the synthetic data: the ensemble stage takes a second
// backbone zero-shot (pretrained:CONFIG, here the 112-px MobileFaceNet graph with its own
// normalisation) beside the two trained ResNet-18 stages, concatenates their features with
// weights chosen on the validation identity and re-ranks.
TEST(Pipeline, EnsembleStageTakesAnotherBackboneWithWeightsChosenOnValidation) {
  testing::TempDir dir;
  const fs::path other = dir / "mobilefacenet.yaml";
  {
    std::ofstream out(other);
    out << "_BASE_: " << RecipeData::config() << "\n"
        << "model:\n  backbone: mobilefacenet\n  pretrained: auto\n"
        << "input:\n  size: [112, 112]\n  mean: [0.5, 0.5, 0.5]\n  std: [0.50196, 0.50196, 0.50196]\n";
  }
  PipelineArgs args = pipeline_args(dir / "cross", {"sampler.p=2", "sampler.k=2", "mining.kmeans_k=3", "data.val_identities=1",
                                                    "pipeline.stages=[baseline,kmeans,ensemble]", "pipeline.base=best",
                                                    "pipeline.ensemble_members=[pretrained:" + other.string() + "]",
                                                    "pipeline.ensemble_combine=features", "pipeline.ensemble_weights=validation",
                                                    "pipeline.ensemble_weight_step=0.25"});
  const PipelineResult r = run_pipeline(args);
  ASSERT_EQ(r.records.size(), 3u);
  const nlohmann::json& e = r.records[2].extra;
  ASSERT_EQ(e["models"].size(), 3u);
  EXPECT_EQ(e["models"][2].get<std::string>(), "pretrained:" + other.string());
  ASSERT_EQ(e["weights"].size(), 3u);
  double sum = 0;
  for (const auto& w : e["weights"]) {
    EXPECT_GE(w.get<double>(), 0.0);
    sum += w.get<double>();
  }
  EXPECT_NEAR(sum, 1.0, 1e-9);
  // The grid holds each member alone, so the chosen point scores at least as well on
  // validation as any single member does there (same re-ranked retrieval).
  std::vector<std::string> reranked = args.overrides;
  reranked.push_back("test.rerank.enabled=true");
  const RunSetup run(args.config, reranked);
  SplitRequest validation;
  validation.split = "validation";
  for (std::size_t alone = 0; alone < 3; ++alone) {
    EnsembleRequest one;
    for (const auto& m : e["models"]) one.members.push_back(m.get<std::string>());
    one.weights = {0, 0, 0};
    one.weights[alone] = 1;
    one.combination = EnsembleCombination::Features;
    one.overrides = reranked;
    const auto directions = run_ensemble(run, validation, one, false).combined;
    ASSERT_EQ(directions.size(), 2u);
    double mean_map = 0;
    for (const auto& d : directions) mean_map += d.metrics.mAP / 2;
    EXPECT_LE(mean_map, e["weights_validation_map"].get<double>() + 1e-9) << alone;
  }
  EXPECT_TRUE(r.records[2].metrics.contains("C2P"));

  // A member that does not exist is named; the finished stages are not run again.
  PipelineArgs bad = args;
  bad.output = (dir / "cross").string();
  bad.overrides.push_back("pipeline.ensemble_members=[pretrained:" + (dir / "nope.yaml").string() + "]");
  fs::remove(dir / "cross" / "ensemble" / "stage.json");
  try {
    run_pipeline(bad);
    FAIL() << "a missing ensemble member was accepted";
  } catch (const std::exception& ex) {
    EXPECT_NE(std::string(ex.what()).find("nope.yaml' not found"), std::string::npos) << ex.what();
  }
}
}  // namespace
}  // namespace toonreid
