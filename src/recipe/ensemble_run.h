// An ensemble of several models evaluated on one split, as `toonreid ensemble` and the
// pipeline's last stage do it: each member's distances (or features) combined with
// weights, then retrieved and scored like a single model.
#pragma once

#include <string>
#include <vector>

#include "recipe/run_setup.h"
#include "retrieval/ensemble.h"

namespace toonreid {

// One member's retrieval: `member` is a checkpoint, "pretrained" (the config's
// initialisation) or saved features (.npy / .trm) of the request's split.
SplitRetrieval retrieve_member(const RunSetup& run, SplitRequest request, const std::string& member, bool progress);

enum class EnsembleCombination { Distances, Features };
EnsembleCombination parse_ensemble_combination(const std::string& name);  // "distances" or "features"

// The members' directions combined (equal weights when `weights` is empty) and evaluated
// with the config's retrieval options. Throws Error when the members disagree in size.
std::vector<RetrievalDirection> evaluate_ensemble(const RunSetup& run, const std::vector<SplitRetrieval>& members,
                                                  EnsembleCombination combination, const std::vector<double>& weights,
                                                  MatrixNormalization normalization);

}  // namespace toonreid
