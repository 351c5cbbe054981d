// Weight-space ensembling of a fine-tuned model with the network it started from
// (WiSE-FT, Wortsman et al., CVPR 2022): every weight becomes
//   w = w0 + alpha * (w_ft - w0)
// alpha 1 is the fine-tuned model, 0 the starting network. Fine-tuning on a few hundred
// people forgets part of what a pretrained face network knows about faces in general;
// interpolating keeps most of the task's gain and gives back much of that knowledge, at
// no cost at test time (it is one network of the same size). Choose alpha on validation.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace toonreid {

class ConfigSchema;

struct InterpolationResult {
  std::size_t interpolated = 0;  // parameters and floating-point buffers moved toward the start
  std::size_t kept = 0;          // kept as fine-tuned: the classifier, counters
  std::string start;             // where the starting weights came from
};

// Writes `out` (atomically): the checkpoint `fine_tuned` with its weights interpolated
// toward the starting weights, which are `start` (a toonreid checkpoint of the same
// architecture) when given, else the starting weights stored in `fine_tuned` (training
// with loss.l2sp_weight or loss.distill_weight keeps them), else the pretrained
// initialisation its config names (model.pretrained). `out` is a model checkpoint like
// any other (config, identities, input pipeline), usable with every --weights.
// Requires 0 <= alpha <= 1. Throws Error naming the file for a missing or foreign
// checkpoint, a start of another architecture, or no starting network at all
// (model.pretrained none and nothing stored).
InterpolationResult interpolate_checkpoint(const std::filesystem::path& fine_tuned, double alpha,
                                           const std::filesystem::path& out, const ConfigSchema& schema,
                                           const std::filesystem::path& start = {});

}  // namespace toonreid
