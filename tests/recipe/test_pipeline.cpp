// The recipe as a library: run_pipeline's stages, skipping finished stages, resuming an
// interrupted training, choosing the best stages on validation; no command line involved.
#include <gtest/gtest.h>

#include <fstream>

#include "model/model_checkpoint.h"
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

}  // namespace
}  // namespace toonreid
