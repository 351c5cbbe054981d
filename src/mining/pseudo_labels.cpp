#include "mining/pseudo_labels.h"

#include <cstdio>
#include <map>

#include "core/error.h"

namespace toonreid {

namespace {
double pairs(std::size_t n) { return 0.5 * static_cast<double>(n) * static_cast<double>(n > 0 ? n - 1 : 0); }
}  // namespace

PseudoLabelQuality pseudo_label_quality(const std::vector<int>& pseudo, const std::vector<int>& truth) {
  if (pseudo.size() != truth.size())
    throw Error("pseudo-label quality: " + std::to_string(pseudo.size()) + " pseudo labels for " +
                std::to_string(truth.size()) + " samples");
  PseudoLabelQuality q;
  q.samples = pseudo.size();
  std::map<std::pair<int, int>, std::size_t> joint;  // (pseudo, truth) -> count
  std::map<int, std::size_t> by_pseudo, by_truth;
  for (std::size_t i = 0; i < pseudo.size(); ++i) {
    ++by_truth[truth[i]];
    if (pseudo[i] < 0) continue;
    ++q.labelled;
    ++by_pseudo[pseudo[i]];
    ++joint[{pseudo[i], truth[i]}];
  }
  q.pseudo_identities = by_pseudo.size();
  double same_pseudo = 0, same_both = 0, same_truth = 0;
  for (const auto& [k, n] : by_pseudo) same_pseudo += pairs(n);
  for (const auto& [k, n] : joint) same_both += pairs(n);
  for (const auto& [k, n] : by_truth) same_truth += pairs(n);
  q.precision = same_pseudo > 0 ? same_both / same_pseudo : 0;
  q.recall = same_truth > 0 ? same_both / same_truth : 0;
  std::map<int, std::pair<int, std::size_t>> majority;  // pseudo -> (truth, count)
  for (const auto& [k, n] : joint)
    if (n > majority[k.first].second) majority[k.first] = {k.second, n};
  std::map<int, bool> found;
  for (const auto& [p, m] : majority) found[m.first] = true;
  q.identities_found = found.size();
  return q;
}

nlohmann::json to_json(const PseudoLabelQuality& q) {
  return {{"samples", q.samples},         {"labelled", q.labelled},       {"pseudo_identities", q.pseudo_identities},
          {"identities_found", q.identities_found}, {"precision", q.precision}, {"recall", q.recall}};
}

Dataset pseudo_labelled_dataset(const std::vector<ImageRecord>& samples, const std::vector<int>& pseudo,
                                const std::string& prefix, const std::string& split) {
  if (samples.size() != pseudo.size()) throw Error("pseudo labels: one label per sample is needed");
  std::vector<ImageRecord> out;
  char name[32];
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (pseudo[i] < 0) continue;
    ImageRecord r = samples[i];
    std::snprintf(name, sizeof name, "%05d", pseudo[i]);
    r.identity = prefix + name;
    r.split = split;
    out.push_back(std::move(r));
  }
  return Dataset(std::move(out), "pseudo-labels");
}

}  // namespace toonreid
