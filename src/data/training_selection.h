// Which records a training run uses: the training split, optionally narrowed for
// Multi-Domain Learning (MDL), plus extra labelled records from manifests (the
// pseudo-labels of Identity Mining, say).
//
// MDL (the BDCI solution's contribution): stage 1 pre-trains on every training image of
// the target domain plus the images of the first N identities of the auxiliary (other)
// domain; stage 2 fine-tunes on the target domain alone. An identity present in both
// domains keeps one label (labels come from identity names).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace toonreid {

class Config;
class ConfigSchema;

enum class TrainingSelection {
  All,            // the whole training split
  MdlPretrain,    // MDL stage 1: target domain + first N identities of the other domain
  TargetDomain,   // MDL stage 2: target domain only
};

struct MdlOptions {
  Domain target = Domain::Photo;
  std::size_t aux_identities = 100;
  bool random_aux = false;  // a seeded random subset instead of the first N by name
  std::uint64_t seed = 0;
};

// Declares data.selection, data.extra_train and the mdl section.
void add_training_selection_options(ConfigSchema& schema);
MdlOptions mdl_options(const Config& config);

// Stage 1 of MDL. "First" = identities with auxiliary-domain images, sorted by name
// (stable across machines and file systems); random_aux draws them with the seed.
Dataset select_mdl_pretraining(const Dataset& train, const MdlOptions& options);
// Stage 2: the target domain's records.
Dataset select_target_domain(const Dataset& train, Domain target);

// Identities of the training split held out for validation (data.val_identities):
// `count` identities that have both photos and cartoons, drawn with `seed` by a
// Fisher-Yates shuffle of the names in sorted order (the same on every machine).
// Throws DataError when fewer such identities exist than asked for.
std::vector<std::string> validation_identities(const Dataset& train_split, std::size_t count, std::uint64_t seed);

// The held-out validation records of `all` (empty Dataset when data.val_identities is 0).
Dataset validation_data(const Dataset& all, const Config& config);

// The records a `train` run uses: `all`'s training split less the validation identities,
// the configured selection, and
// the records of every manifest in data.extra_train (their identities must not collide
// with the split's: a shared name would merge two people).
Dataset training_data(const Dataset& all, const Config& config);

}  // namespace toonreid
