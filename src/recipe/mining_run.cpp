#include "recipe/mining_run.h"

#include "core/atomic_file.h"
#include "data/csv_manifest.h"
#include "mining/identity_mining.h"
#include "mining/kmeans.h"
#include "mining/pseudo_labels.h"

namespace toonreid {

nlohmann::json mine_split(const SplitRetrieval& r, const Config& c, const std::string& method,
                          const std::filesystem::path& out) {
  const RetrievalDirection& c2p = r.directions.at(0);  // caricature queries, photo gallery
  const torch::Tensor q = c2p.query_features(r.features), g = c2p.gallery_features(r.features);
  std::vector<ImageRecord> samples;
  std::vector<int> truth;
  for (std::size_t i = 0; i < c2p.query_records.size(); ++i)
    samples.push_back(r.data[c2p.query_records[i]]), truth.push_back(c2p.query_labels[i]);
  for (std::size_t i = 0; i < c2p.gallery_records.size(); ++i)
    samples.push_back(r.data[c2p.gallery_records[i]]), truth.push_back(c2p.gallery_labels[i]);

  const IdentityMiningOptions im = identity_mining_options(c);
  nlohmann::json info{{"method", method}, {"model", r.model}, {"queries", q.size(0)}, {"gallery", g.size(0)}};
  std::vector<int> pseudo;
  if (method == "identity") {
    MiningResult m = mine_identities(q, g, im);
    pseudo = m.labels;
    info["d_n"] = im.d_n, info["d_p"] = im.d_p, info["distance"] = distance_name(im.distance);
    info["anchors"] = m.anchors.size();
  } else {
    KMeansOptions ko;
    ko.k = static_cast<int>(c.get_int("mining.kmeans_k"));
    ko.max_iterations = static_cast<int>(c.get_int("mining.kmeans_iterations"));
    ko.seed = im.seed;
    KMeansResult km = kmeans(torch::cat({q, g}), ko);
    pseudo = km.labels;
    info["k"] = ko.k, info["iterations"] = km.iterations, info["inertia"] = km.inertia;
  }
  info["quality"] = to_json(pseudo_label_quality(pseudo, truth));  // the split's identities as ground truth
  std::filesystem::create_directories(out);
  write_csv_manifest(pseudo_labelled_dataset(samples, pseudo, method == "identity" ? "im_" : "km_"), out / "pseudo_labels.csv");
  write_file_atomically(out / "mining.json", info.dump(2) + "\n");
  return info;
}

}  // namespace toonreid
