#include "retrieval/postprocess.h"

#include <sstream>

#include "core/config.h"

namespace toonreid {

void add_retrieval_options(ConfigSchema& schema) {
  schema.add_string("test.distance", "euclidean",
                    "Distance between embeddings: euclidean, cosine (1 - cos) or angular (arccos of cos, radians)")
      .one_of(distance_names());
  schema.describe_section("test.query_expansion", "Alpha-weighted query expansion (alpha-QE) before ranking.");
  schema.add_bool("test.query_expansion.enabled", false, "Replace each query by the weighted mean of itself and its top-k");
  schema.add_int("test.query_expansion.k", 5, "Gallery neighbours averaged into the query").range(1, 1000);
  schema.add_float("test.query_expansion.alpha", 3.0, "Weight = cosine similarity ^ alpha (0: plain mean)").range(0, 100);
  schema.describe_section("test.rerank", "k-reciprocal re-ranking (Zhong et al., 2017).");
  schema.add_bool("test.rerank.enabled", false, "Re-rank with k-reciprocal encoding");
  schema.add_int("test.rerank.k1", 20, "Neighbourhood size of the k-reciprocal sets").range(1, 1000);
  schema.add_int("test.rerank.k2", 6, "Neighbours averaged in local query expansion (1: none)").range(1, 1000);
  schema.add_float("test.rerank.lambda", 0.3, "Weight of the original distance against the Jaccard distance").range(0, 1);
  schema.add_int("test.rerank.approximate_above", 30000,
                 "Query + gallery size above which gallery neighbours are searched approximately").min(0);
  add_ann_options(schema, "test.rerank", rerank_ann_defaults(AnnKind::Hnsw),
                  "Gallery neighbours above test.rerank.approximate_above samples (hnsw: on a 128-d principal "
                  "projection above 128 dimensions, re-scored in full; ivf: k-means cells compared by matrix "
                  "products, less accurate; flat: exact)");
  schema.describe_section("test.rank_adjust",
                          "Query-neighbour rank adjustment: uncertain queries borrow a confident neighbour's top match.");
  schema.add_bool("test.rank_adjust.enabled", false, "Apply the rank adjustment");
  schema.add_float("test.rank_adjust.uncertain", 0.8, "A query is uncertain when its best distance exceeds this").range(0, 1e9);
  schema.add_float("test.rank_adjust.neighbor", 0.7, "Queries closer than this to it are its neighbours").range(0, 1e9);
  schema.add_float("test.rank_adjust.margin", 0.1, "A neighbour lends its top match if its best distance is lower by more").range(0, 1e9);
}

RetrievalOptions retrieval_options(const Config& c) {
  RetrievalOptions o;
  o.distance = parse_distance(c.get_string("test.distance"));
  o.query_expansion = c.get_bool("test.query_expansion.enabled");
  o.expansion.k = static_cast<int>(c.get_int("test.query_expansion.k"));
  o.expansion.alpha = c.get_float("test.query_expansion.alpha");
  o.rerank = c.get_bool("test.rerank.enabled");
  o.reranking.k1 = static_cast<int>(c.get_int("test.rerank.k1"));
  o.reranking.k2 = static_cast<int>(c.get_int("test.rerank.k2"));
  o.reranking.lambda = c.get_float("test.rerank.lambda");
  o.reranking.neighbours = ann_options(c, "test.rerank");
  o.reranking.approximate_above = c.get_int("test.rerank.approximate_above");
  o.reranking.seed = static_cast<std::uint64_t>(c.get_int("run.seed"));
  o.rank_adjust = c.get_bool("test.rank_adjust.enabled");
  o.adjustment.uncertain = c.get_float("test.rank_adjust.uncertain");
  o.adjustment.neighbor = c.get_float("test.rank_adjust.neighbor");
  o.adjustment.margin = c.get_float("test.rank_adjust.margin");
  return o;
}

std::string RetrievalOptions::describe() const {
  std::ostringstream s;
  s << distance_name(distance);
  if (query_expansion) s << " + query expansion (k=" << expansion.k << ", alpha=" << expansion.alpha << ")";
  if (rerank) s << " + re-ranking (k1=" << reranking.k1 << ", k2=" << reranking.k2 << ", lambda=" << reranking.lambda << "; gallery neighbours "
                  << (reranking.neighbours.kind == AnnKind::Exact ? std::string("exact")
                                                                  : std::string(ann_kind_name(reranking.neighbours.kind)) +
                                                                        " above " + std::to_string(reranking.approximate_above) +
                                                                        " samples")
                  << ")";
  if (rank_adjust)
    s << " + rank adjustment (uncertain=" << adjustment.uncertain << ", neighbor=" << adjustment.neighbor
      << ", margin=" << adjustment.margin << ")";
  return s.str();
}

RetrievalDistances retrieval_distances(const torch::Tensor& query_features, const torch::Tensor& gallery_features,
                                       const RetrievalOptions& o) {
  RetrievalDistances r;
  const torch::Tensor q = o.query_expansion ? expand_queries(query_features, gallery_features, o.expansion) : query_features;
  r.distances = o.rerank ? rerank_k_reciprocal(q, gallery_features, o.distance, o.reranking)
                         : pairwise_distances(q, gallery_features, o.distance);
  if (o.rank_adjust) {
    RankAdjustResult a = adjust_ranks(r.distances, pairwise_distances(q, q, o.distance), o.adjustment);
    r.distances = a.distances;
    r.adjusted = a.adjusted;
  }
  return r;
}

}  // namespace toonreid
