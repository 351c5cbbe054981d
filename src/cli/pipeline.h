// `toonreid pipeline`: the paper's recipe as resumable stages, each in its own folder
// under the pipeline's output folder, and a comparison table in the form of the
// paper's Table 2 (per stage: training accuracy, test mAP / Rank-1 for C2P and P2C,
// relative change against the baseline, wall time).
//
//   baseline         train with the config (+ pipeline.baseline overrides), evaluate
//   mdl              MDL stage 1 (pipeline.mdl_stage1: target domain + N identities of the
//                    other), stage 2 from it (pipeline.mdl_stage2: target domain, frozen
//                    stages, lower LR), evaluate
//   identity_mining  mine the test split with the latest model (mining.*), retrain from it on
//                    training split + pseudo-labels (pipeline.retrain), evaluate
//   kmeans           the same with k-means pseudo-labels (mining.kmeans_k), for comparison
//   rerank           the latest model (IM if run) with k-reciprocal re-ranking
//   ensemble         distance ensemble of the latest two models, re-ranked
//
// A stage is done when its stage.json exists; finished stages are skipped, and an
// interrupted training resumes from its checkpoints/last.pt.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "cli/run_setup.h"

namespace toonreid::cli {

struct PipelineArgs {
  std::string config;
  std::vector<std::string> overrides;
  std::string output;  // default: pipeline.output_dir
  bool progress = true;
};

// Runs the stages in pipeline.stages; writes comparison.{md,json,html} and returns the
// Markdown table.
std::string run_pipeline(const PipelineArgs& args);

}  // namespace toonreid::cli
