// A model's input pipeline travels with it. A checkpoint stores the config it was trained
// with; every command that embeds with the checkpoint (eval, extract, calibrate, ensemble,
// index, search, scan, serve) cuts and normalises images as that config says: the
// alignment (input.align), the face chain and chip geometry (face.*), the input size,
// resizing and normalisation (input.size, input.resize, input.mean, input.std).
//
// The command's own config may agree with the checkpoint, or leave a setting at its
// default (the checkpoint's value is then used), or contradict it:
//   - in a config file: refused (ConfigError naming the setting, both values and where
//     each comes from), since evaluating an aligned model on whole images is a silent
//     20-40 mAP loss, not a choice;
//   - on the command line (`key=value`): the explicit override, applied with a warning
//     naming both values.
// Where files live (face.cache_dir, face.weights_dir, face.dlib_predictor) is the
// command's business and never compared.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"

namespace toonreid {

// An ensemble's members are models of different networks, each with its own pipeline:
// there the run's config describes none of them, and a member's file settings give way to
// its checkpoint's (logged); command-line overrides still apply.
enum class PipelineConflicts { Refuse, CheckpointWins };

// The settings that make up the input pipeline, in schema order (with model.backbone and
// model.input_channels, which decide the chip a backbone expects).
std::vector<std::string> input_pipeline_keys(const ConfigSchema& schema);

// `given` with the pipeline settings of `trained` (the config stored in the checkpoint
// `checkpoint`, named in messages). Throws ConfigError on a contradiction from a file
// under PipelineConflicts::Refuse.
Config with_checkpoint_pipeline(const Config& given, const Config& trained, const std::string& checkpoint,
                                PipelineConflicts conflicts = PipelineConflicts::Refuse);

}  // namespace toonreid
