#include "eval/cross_domain.h"

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
  for (const auto& d : directions) (d.name == "C2P" ? r.c2p : r.p2c) = d.metrics;
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

nlohmann::json to_json(const CrossDomainReport& report) {
  auto one = [](const RetrievalMetrics& m) {
    return nlohmann::json{{"mAP", m.mAP},      {"rank1", m.rank(1)}, {"rank5", m.rank(5)}, {"rank10", m.rank(10)},
                          {"mINP", m.mINP},    {"queries", m.queries}, {"skipped", m.skipped}};
  };
  return {{"C2P", one(report.c2p)}, {"P2C", one(report.p2c)}};
}

std::string format_table(const CrossDomainReport& report) {
  char buf[512];
  std::string out = "direction    mAP  Rank-1  Rank-5  Rank-10   mINP  queries\n";
  for (const auto& [name, m] : {std::pair<const char*, const RetrievalMetrics&>{"C2P", report.c2p},
                                std::pair<const char*, const RetrievalMetrics&>{"P2C", report.p2c}}) {
    std::snprintf(buf, sizeof buf, "%-9s %6.2f %7.2f %7.2f %8.2f %6.2f %8zu\n", name, 100 * m.mAP, 100 * m.rank(1),
                  100 * m.rank(5), 100 * m.rank(10), 100 * m.mINP, m.queries);
    out += buf;
  }
  return out;
}

std::string format_markdown(const CrossDomainReport& report) {
  char buf[512];
  std::string out = "| direction | mAP | Rank-1 | Rank-5 | Rank-10 | mINP | queries | skipped |\n"
                    "|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& [name, m] : {std::pair<const char*, const RetrievalMetrics&>{"C2P", report.c2p},
                                std::pair<const char*, const RetrievalMetrics&>{"P2C", report.p2c}}) {
    std::snprintf(buf, sizeof buf, "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %zu | %zu |\n", name, 100 * m.mAP,
                  100 * m.rank(1), 100 * m.rank(5), 100 * m.rank(10), 100 * m.mINP, m.queries, m.skipped);
    out += buf;
  }
  return out;
}

}  // namespace toonreid
