#include "eval/cross_domain.h"

#include <algorithm>
#include <cstdio>

#include "core/error.h"

namespace toonreid {

namespace {

torch::Tensor rows(const torch::Tensor& features, const std::vector<std::size_t>& records) {
  std::vector<int64_t> idx(records.begin(), records.end());
  return features.index_select(0, torch::tensor(idx, torch::kLong));
}

}  // namespace

torch::Tensor RetrievalDirection::query_features(const torch::Tensor& f) const { return rows(f, query_records); }
torch::Tensor RetrievalDirection::gallery_features(const torch::Tensor& f) const { return rows(f, gallery_records); }

std::vector<RetrievalDirection> cross_domain_directions(const Dataset& data) {
  LabelMap labels = make_labels(data);
  RetrievalDirection c2p, p2c;
  c2p.name = "C2P";
  p2c.name = "P2C";
  for (std::size_t i = 0; i < data.size(); ++i) {
    const int label = labels.record_labels[i];
    if (data[i].domain == Domain::Photo) {
      c2p.gallery_records.push_back(i), c2p.gallery_labels.push_back(label);
      p2c.query_records.push_back(i), p2c.query_labels.push_back(label);
    } else {
      c2p.query_records.push_back(i), c2p.query_labels.push_back(label);
      p2c.gallery_records.push_back(i), p2c.gallery_labels.push_back(label);
    }
  }
  if (c2p.gallery_records.empty() || c2p.query_records.empty())
    throw DataError(data.origin() + ": cross-domain evaluation needs photos and cartoons in the split");
  return {std::move(c2p), std::move(p2c)};
}

RetrievalDirection split_direction(const Dataset& data, const std::string& query_split, const std::string& gallery_split) {
  LabelMap labels = make_labels(data);
  RetrievalDirection d;
  d.name = query_split + "->" + gallery_split;
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data[i].split == query_split) d.query_records.push_back(i), d.query_labels.push_back(labels.record_labels[i]);
    else if (data[i].split == gallery_split) d.gallery_records.push_back(i), d.gallery_labels.push_back(labels.record_labels[i]);
  }
  if (d.query_records.empty()) throw DataError(data.origin() + ": query split '" + query_split + "' has no images");
  if (d.gallery_records.empty()) throw DataError(data.origin() + ": gallery split '" + gallery_split + "' has no images");
  return d;
}

void evaluate_direction(RetrievalDirection& d, const torch::Tensor& features, const RetrievalOptions& options) {
  RetrievalDistances r = retrieval_distances(d.query_features(features), d.gallery_features(features), options);
  d.adjusted = r.adjusted;
  evaluate_direction(d, std::move(r.distances));
}

void evaluate_direction(RetrievalDirection& d, torch::Tensor distances) {
  d.metrics = evaluate_retrieval(distances, d.query_labels, d.gallery_labels, RankingOptions{20, {}, {}});  // CMC to 20 for the curve
  d.distances = std::move(distances);
}

std::vector<RetrievalDirection> run_cross_domain(const torch::Tensor& features, const Dataset& data,
                                                 const RetrievalOptions& options) {
  if (features.dim() != 2 || features.size(0) != static_cast<long>(data.size()))
    throw Error("evaluate_cross_domain: " + std::to_string(features.size(0)) + " features for " +
                std::to_string(data.size()) + " images");
  std::vector<RetrievalDirection> directions = cross_domain_directions(data);
  for (auto& d : directions) evaluate_direction(d, features, options);
  return directions;
}

CrossDomainReport summarise(const std::vector<RetrievalDirection>& directions) {
  CrossDomainReport r;
  for (const auto& d : directions) {
    if (d.name == "C2P") r.c2p = d.metrics;
    else if (d.name == "P2C") r.p2c = d.metrics;
  }
  return r;
}

CrossDomainReport evaluate_cross_domain(const torch::Tensor& features, const Dataset& data, const RetrievalOptions& options) {
  return summarise(run_cross_domain(features, data, options));
}

CrossDomainReport evaluate_cross_domain(const torch::Tensor& features, const Dataset& data, DistanceKind kind) {
  RetrievalOptions o;
  o.distance = kind;
  return evaluate_cross_domain(features, data, o);
}

namespace {

using NamedMetrics = std::vector<std::pair<std::string, const RetrievalMetrics*>>;

NamedMetrics named(const CrossDomainReport& r) { return {{"C2P", &r.c2p}, {"P2C", &r.p2c}}; }
NamedMetrics named(const std::vector<RetrievalDirection>& dirs) {
  NamedMetrics out;
  for (const auto& d : dirs) out.emplace_back(d.name, &d.metrics);
  return out;
}

nlohmann::json json_of(const NamedMetrics& all) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, m] : all)
    j[name] = {{"mAP", m->mAP},     {"rank1", m->rank(1)},   {"rank5", m->rank(5)},    {"rank10", m->rank(10)},
               {"mINP", m->mINP},   {"queries", m->queries}, {"skipped", m->skipped}};
  return j;
}

std::string table_of(const NamedMetrics& all) {
  char buf[512];
  std::string out = "direction    mAP  Rank-1  Rank-5  Rank-10   mINP  queries\n";
  for (const auto& [name, m] : all) {
    std::snprintf(buf, sizeof buf, "%-9s %6.2f %7.2f %7.2f %8.2f %6.2f %8zu\n", name.c_str(), 100 * m->mAP,
                  100 * m->rank(1), 100 * m->rank(5), 100 * m->rank(10), 100 * m->mINP, m->queries);
    out += buf;
  }
  return out;
}

std::string markdown_of(const NamedMetrics& all) {
  char buf[512];
  std::string out = "| direction | mAP | Rank-1 | Rank-5 | Rank-10 | mINP | queries | skipped |\n"
                    "|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& [name, m] : all) {
    std::snprintf(buf, sizeof buf, "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %zu | %zu |\n", name.c_str(), 100 * m->mAP,
                  100 * m->rank(1), 100 * m->rank(5), 100 * m->rank(10), 100 * m->mINP, m->queries, m->skipped);
    out += buf;
  }
  return out;
}

}  // namespace

nlohmann::json to_json(const CrossDomainReport& report) { return json_of(named(report)); }
std::string format_table(const CrossDomainReport& report) { return table_of(named(report)); }
std::string format_markdown(const CrossDomainReport& report) { return markdown_of(named(report)); }
nlohmann::json to_json(const std::vector<RetrievalDirection>& d) { return json_of(named(d)); }
std::string format_table(const std::vector<RetrievalDirection>& d) { return table_of(named(d)); }
std::string format_markdown(const std::vector<RetrievalDirection>& d) { return markdown_of(named(d)); }

}  // namespace toonreid

namespace toonreid {

std::vector<PathMetrics> by_query_path(const RetrievalDirection& d, const Dataset& data) {
  std::vector<PathMetrics> out;
  const auto& per_query = d.metrics.per_query;
  if (per_query.size() != d.query_records.size()) return out;
  std::size_t total = 0;
  for (std::size_t i = 0; i < per_query.size(); ++i) {
    if (per_query[i].positives == 0) continue;
    const std::string& path = data.records()[d.query_records[i]].face_path;
    if (path.empty()) continue;
    auto it = std::find_if(out.begin(), out.end(), [&](const PathMetrics& p) { return p.path == path; });
    if (it == out.end()) it = out.insert(out.end(), PathMetrics{path});
    ++it->queries;
    ++total;
    it->mAP += per_query[i].ap;
    it->rank1 += per_query[i].first_hit == 0 ? 1.0 : 0.0;
  }
  for (auto& p : out) {
    p.share = static_cast<double>(p.queries) / static_cast<double>(total);
    p.mAP /= static_cast<double>(p.queries);
    p.rank1 /= static_cast<double>(p.queries);
  }
  return out;
}

namespace {

// One line per (direction, path): `header` first, each row through `row_format`
// (direction, path, queries, share %, mAP %, Rank-1 %).
std::string path_rows(const std::vector<RetrievalDirection>& directions, const Dataset& data, const char* header,
                      const char* row_format) {
  std::string out;
  char buf[256];
  for (const auto& d : directions)
    for (const auto& p : by_query_path(d, data)) {
      if (out.empty()) out = header;
      std::snprintf(buf, sizeof buf, row_format, d.name.c_str(), p.path.c_str(), p.queries, 100 * p.share, 100 * p.mAP,
                    100 * p.rank1);
      out += buf;
    }
  return out;
}

}  // namespace

std::string format_path_table(const std::vector<RetrievalDirection>& directions, const Dataset& data) {
  return path_rows(directions, data, "by query path  path          queries  share    mAP  Rank-1\n",
                   "%-14s %-12s %8zu %5.1f%% %6.2f %7.2f\n");
}

std::string format_path_markdown(const std::vector<RetrievalDirection>& directions, const Dataset& data) {
  return path_rows(directions, data, "| direction | query path | queries | share | mAP | Rank-1 |\n|---|---|---:|---:|---:|---:|\n",
                   "| %s | %s | %zu | %.1f%% | %.2f | %.2f |\n");
}

void add_path_json(nlohmann::json& json, const std::vector<RetrievalDirection>& directions, const Dataset& data) {
  for (const auto& d : directions) {
    const auto paths = by_query_path(d, data);
    if (paths.empty()) continue;
    nlohmann::json list = nlohmann::json::array();
    for (const auto& p : paths)
      list.push_back({{"path", p.path}, {"queries", p.queries}, {"share", p.share}, {"mAP", p.mAP}, {"rank1", p.rank1}});
    json[d.name]["by_query_path"] = list;
  }
}

}  // namespace toonreid
