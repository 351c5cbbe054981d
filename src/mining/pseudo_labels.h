// Quality of pseudo-labels against the ground truth (when it is known), and the
// pseudo-label manifest written for retraining.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/dataset.h"

namespace toonreid {

struct PseudoLabelQuality {
  std::size_t samples = 0, labelled = 0;
  std::size_t pseudo_identities = 0;  // distinct pseudo labels in use
  std::size_t identities_found = 0;   // true identities that are the majority of some pseudo identity
  double precision = 0;  // of pairs sharing a pseudo label, the fraction that are the same person
  double recall = 0;     // of same-person pairs (all samples), the fraction sharing a pseudo label
};

// pseudo: per sample, -1 = unlabelled; truth: per sample, the true identity label.
PseudoLabelQuality pseudo_label_quality(const std::vector<int>& pseudo, const std::vector<int>& truth);
nlohmann::json to_json(const PseudoLabelQuality& q);

// The labelled samples as a data set: identity "<prefix>NNNNN", split `split`.
Dataset pseudo_labelled_dataset(const std::vector<ImageRecord>& samples, const std::vector<int>& pseudo,
                                const std::string& prefix = "mined_", const std::string& split = "train");

}  // namespace toonreid
