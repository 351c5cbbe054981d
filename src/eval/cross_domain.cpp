#include "eval/cross_domain.h"

#include <cstdio>

#include "core/error.h"

namespace toonreid {

DistanceKind parse_distance(const std::string& name) {
  if (name == "euclidean") return DistanceKind::Euclidean;
  if (name == "cosine") return DistanceKind::Cosine;
  throw Error("unknown distance '" + name + "' (euclidean or cosine)");
}

torch::Tensor pairwise_distances(const torch::Tensor& q, const torch::Tensor& g, DistanceKind kind) {
  if (kind == DistanceKind::Cosine) {
    torch::Tensor qn = q / q.norm(2, 1, true).clamp_min(1e-12), gn = g / g.norm(2, 1, true).clamp_min(1e-12);
    return 1 - torch::mm(qn, gn.t());
  }
  torch::Tensor d2 = q.pow(2).sum(1, true) + g.pow(2).sum(1, true).t() - 2 * torch::mm(q, g.t());
  return d2.clamp_min(0).sqrt();
}

CrossDomainReport evaluate_cross_domain(const torch::Tensor& features, const Dataset& data, DistanceKind kind) {
  if (features.size(0) != static_cast<long>(data.size()))
    throw Error("evaluate_cross_domain: " + std::to_string(features.size(0)) + " features for " +
                std::to_string(data.size()) + " images");
  LabelMap labels = make_labels(data);
  std::vector<long> photos, cartoons;
  std::vector<int> photo_labels, cartoon_labels;
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data[i].domain == Domain::Photo) photos.push_back(static_cast<long>(i)), photo_labels.push_back(labels.record_labels[i]);
    else cartoons.push_back(static_cast<long>(i)), cartoon_labels.push_back(labels.record_labels[i]);
  }
  if (photos.empty() || cartoons.empty())
    throw DataError(data.origin() + ": cross-domain evaluation needs photos and cartoons in the split");
  torch::Tensor fp = features.index_select(0, torch::tensor(photos)), fc = features.index_select(0, torch::tensor(cartoons));
  CrossDomainReport r;
  r.c2p = evaluate_retrieval(pairwise_distances(fc, fp, kind), cartoon_labels, photo_labels);
  r.p2c = evaluate_retrieval(pairwise_distances(fp, fc, kind), photo_labels, cartoon_labels);
  return r;
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

}  // namespace toonreid
