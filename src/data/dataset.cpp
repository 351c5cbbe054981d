#include "data/dataset.h"

#include <cmath>
#include <cstdlib>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "core/config_schema.h"
#include "core/error.h"
#include "data/csv_manifest.h"
#include "data/webcaricature.h"

namespace toonreid {

namespace fs = std::filesystem;

const char* domain_name(Domain d) { return d == Domain::Photo ? "photo" : "cartoon"; }

Domain parse_domain(const std::string& text) {
  std::string t;
  for (char c : text) t += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t == "photo" || t == "p") return Domain::Photo;
  if (t == "cartoon" || t == "c" || t == "caricature") return Domain::Cartoon;
  throw DataError("unknown domain '" + text + "' (expected photo or cartoon)");
}

Dataset::Dataset(std::vector<ImageRecord> records, std::string origin)
    : records_(std::move(records)), origin_(std::move(origin)) {}

std::vector<std::string> Dataset::identities() const {
  std::vector<std::string> out;
  std::unordered_map<std::string, bool> seen;
  for (const auto& r : records_)
    if (seen.emplace(r.identity, true).second) out.push_back(r.identity);
  return out;
}

std::vector<std::string> Dataset::splits() const {
  std::vector<std::string> out;
  for (const auto& r : records_)
    if (std::find(out.begin(), out.end(), r.split) == out.end()) out.push_back(r.split);
  return out;
}

Dataset Dataset::split(const std::string& name) const {
  std::vector<ImageRecord> out;
  for (const auto& r : records_)
    if (r.split == name) out.push_back(r);
  if (out.empty()) {
    std::string known;
    for (const auto& s : splits()) known += (known.empty() ? "" : ", ") + (s.empty() ? "(none)" : s);
    throw DataError(origin_ + ": split '" + name + "' has no images (splits present: " + known + ")");
  }
  return Dataset(std::move(out), origin_);
}

Dataset Dataset::domain(Domain d) const {
  std::vector<ImageRecord> out;
  for (const auto& r : records_)
    if (r.domain == d) out.push_back(r);
  return Dataset(std::move(out), origin_);
}

LabelMap make_labels(const Dataset& data) {
  LabelMap map;
  map.names = data.identities();
  std::unordered_map<std::string, int> index;
  for (std::size_t i = 0; i < map.names.size(); ++i) index[map.names[i]] = static_cast<int>(i);
  map.record_labels.reserve(data.size());
  for (const auto& r : data.records()) map.record_labels.push_back(index.at(r.identity));
  return map;
}

std::vector<SplitStats> compute_stats(const Dataset& data) {
  std::vector<SplitStats> out;
  for (const auto& split : data.splits()) {
    SplitStats s;
    s.split = split;
    std::map<std::string, std::pair<std::size_t, std::size_t>> per_identity;  // photos, cartoons
    for (const auto& r : data.records()) {
      if (r.split != split) continue;
      auto& counts = per_identity[r.identity];
      if (r.domain == Domain::Photo) ++counts.first, ++s.photos;
      else ++counts.second, ++s.cartoons;
    }
    s.identities = per_identity.size();
    for (const auto& [id, counts] : per_identity) {
      if (counts.second == 0) s.photo_only.push_back(id);
      if (counts.first == 0) s.cartoon_only.push_back(id);
    }
    out.push_back(std::move(s));
  }
  return out;
}

void add_data_options(ConfigSchema& schema) {
  schema.describe_section("data", "The data set: a WebCaricature-layout folder or a CSV manifest.");
  schema.add_string("data.root", "",
                    "Data set folder (images/<Identity>/P*.jpg, C*.jpg; splits/*.txt) or manifest .csv; "
                    "relative paths are resolved against the working directory");
  schema.add_string("data.train_split", "train", "Split used for training");
  schema.add_string("data.test_split", "test", "Split used for evaluation");
}

Dataset open_dataset(const fs::path& root_or_manifest) {
  if (!fs::exists(root_or_manifest)) throw DataError("data set not found: " + root_or_manifest.string());
  if (fs::is_directory(root_or_manifest)) return load_webcaricature(root_or_manifest);
  return load_csv_manifest(root_or_manifest);
}

std::vector<float> parse_landmarks(const std::string& text, const std::string& where) {
  std::vector<float> values;
  std::string token;
  auto flush = [&] {
    if (token.empty()) return;
    char* end = nullptr;
    const float v = std::strtof(token.c_str(), &end);
    if (end == token.c_str() || *end != '\0' || !std::isfinite(v))
      throw DataError(where + ": landmark value '" + token + "' is not a number");
    values.push_back(v);
    token.clear();
  };
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == ',' || c == '\n' || c == '\r' || c == ';') flush();
    else token += c;
  }
  flush();
  const std::size_t points = values.size() / 2;
  if (values.size() % 2 != 0 || (points != 5 && points != 17 && points != 68))
    throw DataError(where + ": " + std::to_string(values.size()) +
                    " landmark numbers; expected x y pairs of 68 (iBUG), 17 (WebCaricature) or 5 points");
  return values;
}

}  // namespace toonreid
