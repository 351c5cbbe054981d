// What every recipe step shares (training, evaluation, extraction, mining, the
// pipeline): loading the config with overrides, applying run.threads, opening the data
// set and selecting a split, aligning faces, building a model for evaluation, and
// extracting features and retrieving with the config's test options.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "face/input_pipeline.h"
#include "data/dataset.h"
#include "eval/cross_domain.h"
#include "model/model_checkpoint.h"
#include "model/reid_model.h"

namespace toonreid {

class ProcessGroup;

// Which images to rank and with what: empty fields take the config's defaults.
struct SplitRequest {
  std::string data;      // data set folder or manifest (default: data.root)
  std::string split;     // default: data.test_split; "validation": data.val_identities' held-out identities
  std::string features;  // saved features of the split (skips the model)
  std::string query_split, gallery_split;  // a user-defined direction instead of C2P / P2C
};

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
  // The setup that continues the run in `run_dir` with its own config.yaml (run.output_dir
  // = run_dir). A `config_file` (optional) and `overrides` must agree with that config
  // except for settings that do not change results (threads, loader workers, folders);
  // otherwise ConfigError lists every contradicting key with both values.
  static RunSetup resuming(const std::filesystem::path& run_dir, const std::string& config_file,
                           const std::vector<std::string>& overrides);
  // The setup of a stored config (a gallery index's, a checkpoint's): YAML text without
  // _BASE_, `source` naming it in messages, then `overrides`.
  static RunSetup from_text(const std::string& yaml, const std::string& source, const std::vector<std::string>& overrides = {});
  const Config& config() const { return config_; }
  const ConfigSchema& schema() const { return *schema_; }

  // Joins the data-parallel job the environment describes (toonreid launch, torchrun:
  // WORLD_SIZE > 1), if any. Then faces() and features() split their work among the
  // ranks (features() returns the whole matrix on rank 0, an undefined tensor elsewhere)
  // and training runs data-parallel.
  void join_job();
  const std::shared_ptr<ProcessGroup>& process_group() const { return group_; }
  bool is_main() const;
  // A clean end of a data-parallel job (every rank waits for the others); no-op alone.
  void finish_job() const;

  // Opens `root`, or data.root when empty; logs the loader's warnings.
  Dataset open_data(const std::string& root) const;
  // The split called `name`; "validation" names the identities data.val_identities
  // holds out of the training split (when set).
  Dataset select_split(const Dataset& all, const std::string& name) const;
  // With input.align: the same records reading aligned face chips (cached on disk;
  // record.original keeps each image's own path). Unchanged otherwise.
  // `progress`: a progress bar while aligning (when a terminal is attached).
  Dataset faces(const Dataset& data, bool progress) const;
  // The same with another config's pipeline (an EvalModel's model_config).
  Dataset faces(const Dataset& data, bool progress, const Config& pipeline) const;

  // The model to evaluate: the checkpoint's, or the config's pretrained initialisation
  // when `weights` is empty (zero-shot). A checkpoint brings its input pipeline
  // (face/input_pipeline.h): model_config is this run's config with the checkpoint's
  // alignment, face chain, chip geometry, input size and normalisation; a config file
  // that contradicts them is refused under PipelineConflicts::Refuse.
  struct EvalModel {
    ReidModel model;
    std::unique_ptr<Config> model_config;  // config the model and its input pipeline follow
  };
  EvalModel eval_model(const std::string& weights, PipelineConflicts conflicts = PipelineConflicts::Refuse) const;

  // Features of `data` with `model_config`'s test pipeline and this run's test options.
  torch::Tensor features(ReidModel& model, const Config& model_config, const Dataset& data, bool progress) const;
  // C2P and P2C with this run's retrieval recipe (test.*): distances and metrics.
  std::vector<RetrievalDirection> retrieve(const torch::Tensor& features, const Dataset& data) const;
  // The request's images: data (or data.root), split (or data.test_split), or the
  // query split's records followed by the gallery split's. Not aligned yet (faces()).
  Dataset split_data(const SplitRequest& request) const;
  // Opens the request's data, selects its split, extracts features with `weights` (a
  // checkpoint; empty: the pretrained initialisation) unless the request names saved
  // features, and runs retrieve() (or ranks query_split against gallery_split).
  SplitRetrieval retrieve_split(const SplitRequest& request, const std::string& weights, bool progress,
                                PipelineConflicts conflicts = PipelineConflicts::Refuse) const;
  CrossDomainReport evaluate(ReidModel& model, const Config& model_config, const Dataset& data, bool progress) const;

 private:
  RunSetup(std::unique_ptr<ConfigSchema> schema, const std::function<Config(const ConfigSchema&)>& load);
  std::unique_ptr<ConfigSchema> schema_;
  Config config_;
  std::shared_ptr<ProcessGroup> group_;
};

}  // namespace toonreid
