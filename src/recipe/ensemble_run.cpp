#include "recipe/ensemble_run.h"

#include <cmath>
#include <filesystem>
#include <functional>

#include "core/error.h"

namespace toonreid {

SplitRetrieval retrieve_member(const RunSetup& run, SplitRequest request, const std::string& member, bool progress,
                               const std::vector<std::string>& overrides) {
  const std::string other = "pretrained:";
  if (member.rfind(other, 0) == 0) {
    const std::string file = member.substr(other.size());
    if (file.empty() || !std::filesystem::is_regular_file(file))
      throw Error("ensemble member " + member + ": config file '" + file + "' not found");
    SplitRetrieval r = RunSetup(file, overrides).retrieve_split(request, "", progress);
    r.model = member;
    return r;
  }
  if (is_saved_features(member)) request.features = member;
  return run.retrieve_split(request, member == "pretrained" || !request.features.empty() ? "" : member, progress,
                            PipelineConflicts::CheckpointWins);
}

bool is_saved_features(const std::string& member) {
  const std::string ext = std::filesystem::path(member).extension().string();
  return ext == ".npy" || ext == ".trm";
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

ChosenWeights choose_ensemble_weights(const RunSetup& run, const std::vector<SplitRetrieval>& validation,
                                      EnsembleCombination combination, MatrixNormalization normalization, double step) {
  const std::size_t m = validation.size();
  if (m < 2 || m > 6) throw Error("ensemble weights: choosing them needs 2 to 6 models, got " + std::to_string(m));
  const double units_real = 1.0 / step;
  const int units = static_cast<int>(std::lround(units_real));
  if (!(step > 0 && step <= 0.5) || std::abs(units_real - units) > 1e-6)
    throw Error("ensemble weights: grid step " + std::to_string(step) + " must be in (0, 0.5] and divide 1");
  ChosenWeights best;
  double best_spread = 0;
  std::vector<int> parts(m, 0);
  // Every composition of `units` into m non-negative parts.
  std::function<void(std::size_t, int)> visit = [&](std::size_t i, int left) {
    if (i + 1 == m) {
      parts[i] = left;
      std::vector<double> w(m);
      double spread = 0;
      for (std::size_t k = 0; k < m; ++k) {
        w[k] = static_cast<double>(parts[k]) / units;
        spread += (w[k] - 1.0 / m) * (w[k] - 1.0 / m);
      }
      double mean_map = 0;
      const std::vector<RetrievalDirection> dirs = evaluate_ensemble(run, validation, combination, w, normalization);
      for (const auto& d : dirs) mean_map += d.metrics.mAP / static_cast<double>(dirs.size());
      ++best.tried;
      if (best.weights.empty() || mean_map > best.mean_map + 1e-12 ||
          (std::abs(mean_map - best.mean_map) <= 1e-12 && spread < best_spread)) {
        best.weights = w;
        best.mean_map = mean_map;
        best_spread = spread;
      }
      return;
    }
    for (int p = 0; p <= left; ++p) {
      parts[i] = p;
      visit(i + 1, left - p);
    }
  };
  visit(0, units);
  return best;
}

EnsembleResult run_ensemble(const RunSetup& run, const SplitRequest& split, const EnsembleRequest& request,
                            bool progress) {
  const std::size_t n = request.members.size();
  if (n < 2) throw Error("ensemble: needs at least two models, got " + std::to_string(n));
  if (!request.weights.empty() && request.weights.size() != n)
    throw Error("ensemble: " + std::to_string(request.weights.size()) + " weights for " + std::to_string(n) + " models");
  if (request.choose_weights && !request.weights.empty())
    throw Error("ensemble: give weights or choose them on validation, not both");
  EnsembleResult result;
  result.weights = request.weights;
  if (request.choose_weights) {
    SplitRequest validation = split;
    validation.split = "validation";
    std::vector<SplitRetrieval> tuning;
    for (const auto& m : request.members) {
      if (is_saved_features(m))
        throw Error("ensemble: choosing weights on validation: " + m +
                    " holds features of one split; give a checkpoint, 'pretrained' or 'pretrained:CONFIG'");
      tuning.push_back(retrieve_member(run, validation, m, progress, request.overrides));
    }
    result.chosen = choose_ensemble_weights(run, tuning, request.combination, request.normalization, request.weight_step);
    result.weights = result.chosen->weights;
  }
  for (const auto& m : request.members)
    result.members.push_back(retrieve_member(run, split, m, progress, request.overrides));
  result.combined = evaluate_ensemble(run, result.members, request.combination, result.weights, request.normalization);
  return result;
}

}  // namespace toonreid
