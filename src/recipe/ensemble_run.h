// An ensemble of several models evaluated on one split, as `toonreid ensemble` and the
// pipeline's last stage do it: each member's distances (or features) combined with
// weights (given, equal, or chosen on the validation identities), then retrieved and
// scored like a single model.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "recipe/run_setup.h"
#include "retrieval/ensemble.h"

namespace toonreid {

// One member's retrieval: `member` is a checkpoint, "pretrained" (the config's
// initialisation), "pretrained:CONFIG" (zero-shot with another config's network and input
// pipeline, e.g. pretrained:configs/cavi_faceres.yaml; `overrides`, the command line's,
// apply to it as to the run) or saved features (.npy / .trm) of the request's split.
// A checkpoint cuts and normalises images as it was trained to (its own network's chip).
SplitRetrieval retrieve_member(const RunSetup& run, SplitRequest request, const std::string& member, bool progress,
                               const std::vector<std::string>& overrides = {});

// True for saved features (.npy / .trm): a member that holds one split only.
bool is_saved_features(const std::string& member);

enum class EnsembleCombination { Distances, Features };
EnsembleCombination parse_ensemble_combination(const std::string& name);  // "distances" or "features"

// The members' directions combined (equal weights when `weights` is empty) and evaluated
// with the config's retrieval options (re-ranking included for Features; for Distances
// the members' own distances, re-ranked when they were). Throws Error when the members
// disagree in size.
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

// What to ensemble and how: the whole of `toonreid ensemble` and of the pipeline's
// ensemble stage.
struct EnsembleRequest {
  std::vector<std::string> members;  // as retrieve_member takes them; at least two
  std::vector<double> weights;       // one per member; empty: equal, or chosen (below)
  bool choose_weights = false;       // choose them on the validation identities first
  double weight_step = 0.1;          // grid step of that choice
  EnsembleCombination combination = EnsembleCombination::Distances;
  MatrixNormalization normalization = MatrixNormalization::None;  // of distances, before combining
  std::vector<std::string> overrides;  // applied to pretrained:CONFIG members
};

struct EnsembleResult {
  std::vector<SplitRetrieval> members;     // each member on the requested split, in order
  std::optional<ChosenWeights> chosen;     // when the weights were chosen on validation
  std::vector<double> weights;             // the weights applied (empty: equal)
  std::vector<RetrievalDirection> combined;
};

// Retrieves every member on `split` (and, with choose_weights, first on the validation
// identities, data.val_identities) and evaluates the combination with `run`'s retrieval
// options. Throws Error naming the culprit for fewer than two members, a weight count that
// differs from the member count, both weights and choose_weights, and saved features under
// choose_weights (they hold one split only).
EnsembleResult run_ensemble(const RunSetup& run, const SplitRequest& split, const EnsembleRequest& request,
                            bool progress);

}  // namespace toonreid
