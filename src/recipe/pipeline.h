// The paper's recipe as resumable stages (what `toonreid pipeline` runs), each in its own
// folder under the pipeline's output folder, and the comparison of the stages
// (recipe/comparison.h).
//
//   baseline         train with the config (+ pipeline.baseline overrides), evaluate
//   mdl              MDL stage 1 (pipeline.mdl_stage1: target domain + N identities of the
//                    other), stage 2 from it (pipeline.mdl_stage2: target domain, frozen
//                    stages, lower LR), evaluate
//   identity_mining  mine the test split with the latest model (mining.*), retrain from it on
//                    training split + pseudo-labels (pipeline.retrain), evaluate
//   kmeans           the same with k-means pseudo-labels (mining.kmeans_k), for comparison
//   rerank           the latest model (IM if run) with k-reciprocal re-ranking
//   ensemble         ensemble of the latest (or best) two models and pipeline.ensemble_members
//                    (e.g. another backbone, pretrained:CONFIG), re-ranked; distances or
//                    features combined (pipeline.ensemble_combine), with equal weights or
//                    weights chosen on validation (pipeline.ensemble_weights)
//
// A stage is done when its stage.json exists; finished stages are skipped, and an
// interrupted training resumes from its checkpoints/last.pt.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "recipe/comparison.h"

namespace toonreid {

struct PipelineArgs {
  std::string config;
  std::vector<std::string> overrides;
  std::string output;  // default: pipeline.output_dir
  bool progress = true;
};

struct PipelineResult {
  std::vector<StageRecord> records;  // one per stage of pipeline.stages, in order
  std::string table;                 // the comparison as Markdown
  std::filesystem::path output_dir;
};

class ConfigSchema;

// Declares the pipeline.* options (stages, output folder, per-stage overrides, the
// ensemble stage's members, combination and weights).
void add_pipeline_options(ConfigSchema& schema);

// Runs the stages in pipeline.stages (skipping finished ones, resuming an interrupted
// training) and writes comparison.{md,json,html} into the output folder.
PipelineResult run_pipeline(const PipelineArgs& args);

}  // namespace toonreid
