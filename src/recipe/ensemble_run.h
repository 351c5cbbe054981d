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
// initialisation), "pretrained:CONFIG" (zero-shot with another config's network and input
// pipeline, e.g. pretrained:configs/cavi_faceres.yaml; `overrides`, the command line's,
// apply to it as to the run) or saved features (.npy / .trm) of the request's split.
SplitRetrieval retrieve_member(const RunSetup& run, SplitRequest request, const std::string& member, bool progress,
                               const std::vector<std::string>& overrides = {});

enum class EnsembleCombination { Distances, Features };
EnsembleCombination parse_ensemble_combination(const std::string& name);  // "distances" or "features"

// The members' directions combined (equal weights when `weights` is empty) and evaluated
// with the config's retrieval options. Throws Error when the members disagree in size.
std::vector<RetrievalDirection> evaluate_ensemble(const RunSetup& run, const std::vector<SplitRetrieval>& members,
                                                  EnsembleCombination combination, const std::vector<double>& weights,
                                                  MatrixNormalization normalization);

// The weights, on a grid over the simplex (steps of `step`, a member may get 0), under which
// the ensemble of `validation` (the same models retrieved on held-out validation
// identities) has the highest mean mAP over its directions; ties go to the weights closest
// to equal. Tune the weights there, then pass them to evaluate_ensemble on the test split.
// Requires 2..6 members and 0 < step <= 0.5 with 1 / step an integer (within 1e-6).
struct ChosenWeights {
  std::vector<double> weights;  // sums to 1
  double mean_map = 0;          // the validation ensemble's mean mAP under them
  std::size_t tried = 0;        // grid points evaluated
};
ChosenWeights choose_ensemble_weights(const RunSetup& run, const std::vector<SplitRetrieval>& validation,
                                      EnsembleCombination combination, MatrixNormalization normalization,
                                      double step = 0.1);

}  // namespace toonreid
