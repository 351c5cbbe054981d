// What the train, extract and eval commands share: loading the config with overrides,
// applying run.threads, opening the data set, and building a model for evaluation.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/config.h"
#include "data/dataset.h"
#include "eval/cross_domain.h"
#include "model/model_checkpoint.h"
#include "model/reid_model.h"

namespace toonreid::cli {

// Options of every command that evaluates a model on a split.
struct ModelArgs {
  std::string config, data, split, weights;
  std::string features;  // saved features of the split (skips the model)
  std::string query_split, gallery_split;  // a user-defined direction instead of C2P / P2C
  std::vector<std::string> overrides;
};
void add_model_args(CLI::App* cmd, ModelArgs& args, bool weights = true);

// A split, its features under one model, and the C2P / P2C retrieval results.
struct SplitRetrieval {
  Dataset data;
  torch::Tensor features;
  std::vector<RetrievalDirection> directions;
  std::string model;  // checkpoint path or "pretrained initialisation"
};

class RunSetup {
 public:
  RunSetup(const std::string& config_file, const std::vector<std::string>& overrides);
  const Config& config() const { return config_; }
  const ConfigSchema& schema() const { return *schema_; }

  // Opens `root`, or data.root when empty; logs the loader's warnings.
  Dataset open_data(const std::string& root) const;
  // The split called `name`; "validation" names the identities data.val_identities
  // holds out of the training split (when set).
  Dataset select_split(const Dataset& all, const std::string& name) const;
  // With input.align: the same records reading aligned face chips (cached on disk;
  // record.original keeps each image's own path). Unchanged otherwise.
  Dataset faces(const Dataset& data) const;

  // The model to evaluate: the checkpoint's (with its own input settings), or the
  // config's pretrained initialisation when `weights` is empty (zero-shot).
  struct EvalModel {
    ReidModel model;
    std::unique_ptr<Config> model_config;  // config the model and its input pipeline follow
  };
  EvalModel eval_model(const std::string& weights) const;

  // Features of `data` with `model_config`'s test pipeline and this run's test options.
  torch::Tensor features(ReidModel& model, const Config& model_config, const Dataset& data, bool progress) const;
  // C2P and P2C with this run's retrieval recipe (test.*): distances and metrics.
  std::vector<RetrievalDirection> retrieve(const torch::Tensor& features, const Dataset& data) const;
  // Opens the data (--data or data.root), selects the split (--split or data.test_split),
  // extracts features with `weights` and runs retrieve().
  SplitRetrieval retrieve_split(const ModelArgs& args, const std::string& weights, bool progress) const;
  CrossDomainReport evaluate(ReidModel& model, const Config& model_config, const Dataset& data, bool progress) const;

 private:
  std::unique_ptr<ConfigSchema> schema_;
  Config config_;
};

}  // namespace toonreid::cli
