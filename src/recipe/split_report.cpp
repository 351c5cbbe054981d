#include "recipe/split_report.h"

#include <algorithm>

#include "core/error.h"
#include "data/csv_manifest.h"
#include "data/image_io.h"
#include "engine/run_layout.h"
#include "eval/ranked_list.h"
#include "eval/training_log.h"
#include "retrieval/matrix_io.h"

namespace toonreid {

namespace fs = std::filesystem;

std::vector<ReportPicture> ranked_list_pictures(const SplitRetrieval& r, std::size_t per_direction, std::uint64_t seed,
                                                std::size_t top_k) {
  std::vector<ReportPicture> out;
  if (per_direction == 0) return out;
  for (const auto& d : r.directions) {
    const auto queries = pick_queries(d, per_direction, seed);
    RankedListOptions o;
    o.top_k = top_k;
    o.tile = 88;
    out.push_back({d.name + ": " + std::to_string(queries.size()) + " random queries, top " + std::to_string(top_k),
                   encode_png(render_ranked_lists(r.data, d, queries, o))});
  }
  return out;
}

fs::path find_training_log(const std::string& weights) {
  if (weights.empty()) return {};
  // A checkpoint lies in the run folder (model_final.pt) or in its checkpoints/ folder.
  const fs::path dir = fs::path(weights).parent_path();
  for (const fs::path& p : {RunLayout(dir).training_log(), RunLayout(dir.parent_path()).training_log()})
    if (fs::exists(p)) return p;
  return {};
}

ReportInput split_report_input(const SplitRetrieval& r, const Config& config, const std::string& split_name,
                               const fs::path& training_log, std::size_t pictures) {
  ReportInput in;
  in.facts = {{"model", r.model},
              {"data", r.data.origin()},
              {"split", split_name},
              {"images", std::to_string(r.data.size())},
              {"feature size", std::to_string(r.features.size(1))},
              {"retrieval", retrieval_options(config).describe()}};
  for (const auto& d : r.directions) {
    in.directions.push_back(&d);
    in.by_query_path.push_back(by_query_path(d, r.data));
  }
  in.identity_names = make_labels(r.data).names;
  if (!training_log.empty()) {
    in.training = read_training_log(training_log);
    in.facts.emplace_back("training log", training_log.string());
  }
  in.pictures = ranked_list_pictures(r, pictures, static_cast<std::uint64_t>(config.get_int("run.seed")));
  return in;
}

void save_split_features(const fs::path& dir, const Dataset& data, const torch::Tensor& features) {
  fs::create_directories(dir);
  write_matrix(dir / "features.npy", features);
  write_matrix(dir / "features.trm", features);
  write_csv_manifest(data, dir / "records.csv");
}

void save_split_matrices(const fs::path& dir, const SplitRetrieval& r) {
  save_split_features(dir, r.data, r.features);
  for (const char* ext : {".npy", ".trm"}) {
    for (const auto& d : r.directions) {
      std::string name = d.name;
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      write_matrix(dir / (name + ext), d.distances);
    }
  }
}

std::vector<const RetrievalDirection*> chosen_directions(const SplitRetrieval& r, const std::string& which) {
  std::vector<const RetrievalDirection*> out;
  for (const auto& d : r.directions)
    if (which == "both" || which == d.name) out.push_back(&d);
  return out;
}

std::size_t resolve_query(const SplitRetrieval& r, const RetrievalDirection& d, const std::string& text) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) {
    const std::size_t i = std::stoul(text);
    if (i >= d.query_records.size())
      throw Error(d.name + " has " + std::to_string(d.query_records.size()) + " queries; query " + text + " does not exist");
    return i;
  }
  for (std::size_t i = 0; i < d.query_records.size(); ++i) {
    const std::string p = r.data[d.query_records[i]].source_path().generic_string();
    if (p.size() >= text.size() && p.compare(p.size() - text.size(), text.size(), text) == 0) return i;
  }
  throw Error(d.name + ": no query image whose path ends with '" + text + "'");
}

std::string ranked_csv(const SplitRetrieval& r, const std::vector<const RetrievalDirection*>& directions, std::size_t top_k) {
  std::string csv = "direction,query,query_identity,predicted_identity,correct,gallery,distances\n";
  for (const auto* d : directions)
    for (std::size_t q = 0; q < d->query_records.size(); ++q) {
      const auto matches = top_matches(*d, q, top_k);
      std::string gallery, distances;
      for (const auto& m : matches) {
        gallery += (gallery.empty() ? "" : " ") + r.data[d->gallery_records[m.gallery]].source_path().generic_string();
        distances += (distances.empty() ? "" : " ") + std::to_string(m.distance);
      }
      const auto& query = r.data[d->query_records[q]];
      const std::string predicted = matches.empty() ? "" : r.data[d->gallery_records[matches[0].gallery]].identity;
      csv += d->name + "," + csv_field(query.path.generic_string()) + "," + csv_field(query.identity) + "," +
             csv_field(predicted) + "," + (predicted == query.identity ? "1" : "0") + "," + csv_field(gallery) + "," +
             distances + "\n";
    }
  return csv;
}

}  // namespace toonreid
