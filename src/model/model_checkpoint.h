// The model part of a toonreid checkpoint: weights plus what is needed to rebuild the
// model without the training code (the merged config and the training identities).
// Checkpoints are LibTorch archives; the trainer adds its own state beside this part.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include "core/config.h"
#include "model/reid_model.h"

namespace toonreid {

struct ModelCheckpointInfo {
  std::string config_yaml;              // the merged training config
  std::vector<std::string> identities;  // classifier label -> identity
  int64_t epoch = 0;                    // epochs completed
};

void write_model_part(torch::serialize::OutputArchive& archive, ReidModel& model, const ModelCheckpointInfo& info);
ModelCheckpointInfo read_model_info(torch::serialize::InputArchive& archive, const std::string& name);
void read_model_weights(torch::serialize::InputArchive& archive, ReidModel& model);

// The starting weights (name -> tensor) a fine-tuning run keeps beside the model, under
// "reference": the anchor of L2-SP and the teacher of distillation, and what
// weight interpolation moves back toward. read_ returns an empty map when none are stored.
void write_starting_weights(torch::serialize::OutputArchive& archive, const std::map<std::string, torch::Tensor>& weights);
std::map<std::string, torch::Tensor> read_starting_weights(torch::serialize::InputArchive& archive);

struct LoadedModel {
  Config config;  // the training config stored in the checkpoint
  ReidModel model;
  ModelCheckpointInfo info;
};

// Rebuilds the model a checkpoint was trained with and loads its weights. Throws Error
// naming the file when it is missing or not a toonreid checkpoint.
LoadedModel load_model_checkpoint(const std::filesystem::path& file, const ConfigSchema& schema);

// Starts `model` from a toonreid checkpoint (MDL stage 2 from stage 1, retraining after
// identity mining): copies every parameter and buffer whose name and shape match;
// returns the names skipped (a classifier for another number of identities, typically).
// Throws when nothing matches (another backbone).
std::vector<std::string> init_from_checkpoint(ReidModel& model, const std::filesystem::path& file,
                                              const ConfigSchema& schema);

}  // namespace toonreid
