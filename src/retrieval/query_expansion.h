// Alpha-weighted query expansion (Radenovic, Tolias, Chum, "Fine-tuning CNN Image
// Retrieval with No Human Annotation", 2018): each query feature is replaced by the
// normalised sum of itself and its top-k gallery features, each weighted by its cosine
// similarity to the query raised to the power alpha (alpha = 0: plain average, AQE).
#pragma once

#include <torch/types.h>

namespace toonreid {

struct QueryExpansionOptions {
  int k = 5;
  double alpha = 3.0;
};

// Expanded, L2-normalised query features [Q, D]. Negative similarities get weight 0.
torch::Tensor expand_queries(const torch::Tensor& query_features, const torch::Tensor& gallery_features,
                             const QueryExpansionOptions& options = {});

}  // namespace toonreid
