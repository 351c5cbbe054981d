// Open-set evaluation and calibration as the commands run them: `eval --open-set`,
// `calibrate`, the calibration training writes beside best.pt, and `index build
// --calibrate-split`. The metrics themselves are in eval/open_set.h, the scores and the
// calibration model in retrieval/open_set_score.h.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include <torch/types.h>

#include "eval/open_set.h"
#include "recipe/run_setup.h"

namespace toonreid {

class Embedder;

// Embeds the images of a data set as the evaluated model does (aligned as configured).
using EmbedFunction = std::function<torch::Tensor(const Dataset&)>;

// The cohort: faces of people in no gallery, embedded with `embed`. The images of
// open_set.cohort_split of `all` (default: the training split without the validation
// identities), less any identity in `exclude`, at most open_set.cohort_size per domain
// (a seeded sample). Empty when the score needs no cohort. Throws Error when it needs
// one and none is left.
Cohort embed_cohort(const RunSetup& run, const Dataset& all, const std::set<std::string>& exclude, const EmbedFunction& embed);

OpenSetEvalOptions open_set_eval_options(const Config& config);

// eval --open-set: every direction of `r` evaluated open-set (verification over all its
// pairs; identification over seeded enrolment splits), with the calibration's
// thresholds too when one is given. `request` and `weights`: what r was made from (the
// cohort comes from the same data set, embedded by the same model).
std::vector<DirectionOpenSet> evaluate_open_set(const RunSetup& run, const SplitRetrieval& r, const SplitRequest& request,
                                                const std::string& weights, const Calibration* calibration, bool progress);

// toonreid calibrate: thresholds and the non-mated model of C2P and P2C on the request's
// split (default "validation": data.val_identities' held-out identities; refuses the
// test split unless `allow_test`), embedded by `embedder` (whose fingerprint it records).
Calibration calibrate_model(const RunSetup& run, Embedder& embedder, const SplitRequest& request, bool progress,
                            bool allow_test = false);

// A short report of a calibration: per direction what it rests on and the thresholds
// for a few FPIRs at a few gallery sizes.
std::string describe_calibration(const Calibration& c);

}  // namespace toonreid
