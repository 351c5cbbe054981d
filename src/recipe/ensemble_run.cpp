#include "recipe/ensemble_run.h"

#include <filesystem>

#include "core/error.h"

namespace toonreid {

SplitRetrieval retrieve_member(const RunSetup& run, SplitRequest request, const std::string& member, bool progress) {
  const std::string ext = std::filesystem::path(member).extension().string();
  if (ext == ".npy" || ext == ".trm") request.features = member;
  // Each member cuts and normalises images as it was trained to (its own network's chip).
  return run.retrieve_split(request, member == "pretrained" || !request.features.empty() ? "" : member, progress,
                            PipelineConflicts::CheckpointWins);
}

EnsembleCombination parse_ensemble_combination(const std::string& name) {
  if (name == "distances") return EnsembleCombination::Distances;
  if (name == "features") return EnsembleCombination::Features;
  throw Error("ensemble: unknown combination '" + name + "' (distances or features)");
}

std::vector<RetrievalDirection> evaluate_ensemble(const RunSetup& run, const std::vector<SplitRetrieval>& members,
                                                  EnsembleCombination combination, const std::vector<double>& weights,
                                                  MatrixNormalization normalization) {
  if (members.size() < 2) throw Error("ensemble: needs at least two models, got " + std::to_string(members.size()));
  if (!weights.empty() && weights.size() != members.size())
    throw Error("ensemble: " + std::to_string(weights.size()) + " weights for " + std::to_string(members.size()) + " models");
  for (const auto& m : members)
    if (m.data.size() != members[0].data.size() || m.directions.size() != members[0].directions.size())
      throw Error("ensemble: " + m.model + " ranks another set of images than " + members[0].model);
  std::vector<RetrievalDirection> combined = members[0].directions;
  if (combination == EnsembleCombination::Features) {
    std::vector<torch::Tensor> features;
    for (const auto& m : members) features.push_back(m.features);
    const torch::Tensor fused = combine_features(features, weights);
    for (auto& d : combined) evaluate_direction(d, fused, retrieval_options(run.config()));
  } else {
    for (std::size_t k = 0; k < combined.size(); ++k) {
      std::vector<torch::Tensor> matrices;
      for (const auto& m : members) matrices.push_back(m.directions[k].distances);
      evaluate_direction(combined[k], combine_distances(matrices, weights, normalization));
    }
  }
  return combined;
}

}  // namespace toonreid
