// Batch-hard triplet loss (Hermans et al. 2017) with the cross-domain mining of the
// cartoon-photo method: for a photo anchor the hardest positive and the hardest negative
// are searched among the cartoons of the batch only, for a cartoon anchor among the
// photos only. The loss is max(0, d_ap - d_an + margin), or the soft margin
// log(1 + exp(d_ap - d_an)).
#pragma once

#include <ATen/core/Tensor.h>

namespace toonreid {

enum class TripletMining {
  All,          // positives and negatives from the whole batch (BoT)
  CrossDomain,  // from the other domain only (the paper)
};

struct TripletOptions {
  double margin = 0.3;
  bool soft_margin = false;
  TripletMining mining = TripletMining::CrossDomain;
  // Cross-domain: an anchor without a positive or a negative in the other domain falls
  // back to the whole batch (true) or is left out of the loss (false).
  bool fallback_to_all = true;
  bool normalize = false;  // L2-normalise features before measuring distances
};

struct TripletResult {
  at::Tensor loss;     // scalar; zero (with a graph) when no anchor qualifies
  at::Tensor dist_ap;  // [A] hardest-positive distance of each anchor used
  at::Tensor dist_an;  // [A] hardest-negative distance of each anchor used
  at::Tensor anchors;  // int64 [A] batch indices of the anchors used
};

// features [N, D]; labels int64 [N]; domains int64 [N] (0 photo, 1 cartoon; ignored
// with TripletMining::All).
TripletResult batch_hard_triplet(const at::Tensor& features, const at::Tensor& labels, const at::Tensor& domains,
                                 const TripletOptions& options);

}  // namespace toonreid
