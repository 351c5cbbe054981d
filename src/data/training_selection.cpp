#include "data/training_selection.h"

#include <algorithm>
#include <array>
#include <map>
#include <set>

#include "core/config.h"
#include "core/error.h"
#include "core/random.h"

namespace toonreid {

void add_training_selection_options(ConfigSchema& schema) {
  schema.add_int("data.val_identities", 0,
                 "Training identities (with both domains) held out for validation, drawn with run.seed; "
                 "train.eval and best.pt then use them instead of the test split")
      .min(0);
  schema.add_string("data.selection", "all",
                    "Training records: all (the training split), mdl_pretrain (MDL stage 1), target_domain (MDL stage 2)")
      .one_of({"all", "mdl_pretrain", "target_domain"});
  schema.add_string_list("data.extra_train", {},
                         "CSV manifests whose records join the training data (e.g. mined pseudo-labels)");
  schema.describe_section("mdl", "Multi-Domain Learning: which domain is the target, how much of the other joins stage 1.");
  schema.add_string("mdl.target_domain", "cartoon",
                    "Target domain: cartoon (our reading of the paper: contest cartoons + N identities of face photos) "
                    "or photo").one_of({"photo", "cartoon"});
  schema.add_int("mdl.aux_identities", 100, "Identities of the other domain in stage 1 (N)").min(0);
  schema.add_bool("mdl.random_aux", false, "Draw the N identities at random (seed run.seed) instead of the first by name");
}

MdlOptions mdl_options(const Config& c) {
  MdlOptions o;
  o.target = parse_domain(c.get_string("mdl.target_domain"));
  o.aux_identities = static_cast<std::size_t>(c.get_int("mdl.aux_identities"));
  o.random_aux = c.get_bool("mdl.random_aux");
  o.seed = static_cast<std::uint64_t>(c.get_int("run.seed"));
  return o;
}

Dataset select_target_domain(const Dataset& train, Domain target) {
  std::vector<ImageRecord> out;
  for (const auto& r : train.records())
    if (r.domain == target) out.push_back(r);
  if (out.empty()) throw DataError(train.origin() + ": no " + domain_name(target) + " images to train on");
  return Dataset(std::move(out), train.origin());
}

Dataset select_mdl_pretraining(const Dataset& train, const MdlOptions& o) {
  std::set<std::string> aux_names;
  for (const auto& r : train.records())
    if (r.domain != o.target) aux_names.insert(r.identity);
  std::vector<std::string> order(aux_names.begin(), aux_names.end());  // sorted by name
  if (o.random_aux) {
    Rng rng(derive_seed(o.seed, {0x4D444CULL}));
    std::shuffle(order.begin(), order.end(), rng.engine());
  }
  order.resize(std::min(order.size(), o.aux_identities));
  const std::set<std::string> chosen(order.begin(), order.end());
  std::vector<ImageRecord> out;
  for (const auto& r : train.records())
    if (r.domain == o.target || chosen.count(r.identity)) out.push_back(r);
  if (out.empty()) throw DataError(train.origin() + ": MDL stage 1 selected no images");
  return Dataset(std::move(out), train.origin());
}

std::vector<std::string> validation_identities(const Dataset& train_split, std::size_t count, std::uint64_t seed) {
  if (count == 0) return {};
  std::map<std::string, std::array<bool, 2>> domains;
  for (const auto& r : train_split.records()) domains[r.identity][r.domain == Domain::Photo ? 0 : 1] = true;
  std::vector<std::string> eligible;  // sorted: std::map order
  for (const auto& [id, d] : domains)
    if (d[0] && d[1]) eligible.push_back(id);
  if (eligible.size() <= count)
    throw DataError(train_split.origin() + ": data.val_identities = " + std::to_string(count) + ", but only " +
                    std::to_string(eligible.size()) +
                    " training identities have both photos and cartoons (some must remain for training)");
  // Fisher-Yates with an explicit generator: std::shuffle differs between libraries.
  Rng rng(derive_seed(seed, {0x56414cULL}));  // "VAL"
  for (std::size_t i = eligible.size() - 1; i > 0; --i)
    std::swap(eligible[i], eligible[static_cast<std::size_t>(rng.engine()() % (i + 1))]);
  eligible.resize(count);
  std::sort(eligible.begin(), eligible.end());
  return eligible;
}

namespace {

// The training split, and the validation identities held out of it.
std::pair<Dataset, std::set<std::string>> split_off_validation(const Dataset& all, const Config& c) {
  Dataset train = all.split(c.get_string("data.train_split"));
  const auto n = static_cast<std::size_t>(c.get_int("data.val_identities"));
  const auto ids = validation_identities(train, n, static_cast<std::uint64_t>(c.get_int("run.seed")));
  return {train, std::set<std::string>(ids.begin(), ids.end())};
}

}  // namespace

Dataset validation_data(const Dataset& all, const Config& c) {
  auto [train, held_out] = split_off_validation(all, c);
  if (held_out.empty()) return Dataset();
  std::vector<ImageRecord> records;
  for (const auto& r : train.records())
    if (held_out.count(r.identity)) records.push_back(r);
  return Dataset(std::move(records), train.origin() + " (validation identities)");
}

Dataset training_data(const Dataset& all, const Config& c) {
  auto [train, held_out] = split_off_validation(all, c);
  if (!held_out.empty()) {
    std::vector<ImageRecord> records;
    for (const auto& r : train.records())
      if (!held_out.count(r.identity)) records.push_back(r);
    train = Dataset(std::move(records), train.origin());
  }
  const std::string selection = c.get_string("data.selection");
  if (selection == "mdl_pretrain") train = select_mdl_pretraining(train, mdl_options(c));
  else if (selection == "target_domain") train = select_target_domain(train, mdl_options(c).target);
  const auto extra = c.get_string_list("data.extra_train");
  if (extra.empty()) return train;
  std::set<std::string> names;
  for (const auto& r : train.records()) names.insert(r.identity);
  std::vector<ImageRecord> records = train.records();
  for (const auto& manifest : extra) {
    Dataset more = open_dataset(manifest);
    for (const auto& r : more.records()) {
      if (names.count(r.identity))
        throw DataError(manifest + ": identity '" + r.identity + "' also exists in the training data before it");
      records.push_back(r);
    }
    for (const auto& r : more.records()) names.insert(r.identity);
  }
  return Dataset(std::move(records), train.origin() + " + " + std::to_string(extra.size()) + " manifest(s)");
}

}  // namespace toonreid
