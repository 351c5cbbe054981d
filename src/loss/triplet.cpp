#include "loss/triplet.h"

#include <ATen/ATen.h>

#include "core/error.h"
#include "loss/distances.h"

namespace toonreid {

TripletResult batch_hard_triplet(const at::Tensor& features, const at::Tensor& labels, const at::Tensor& domains,
                                 const TripletOptions& options) {
  if (features.dim() != 2 || labels.dim() != 1 || labels.size(0) != features.size(0))
    throw Error("batch_hard_triplet: expects features [N, D] and labels [N]");
  if (options.mining == TripletMining::CrossDomain && (domains.dim() != 1 || domains.size(0) != features.size(0)))
    throw Error("batch_hard_triplet: cross-domain mining needs one domain per sample");

  at::Tensor x = options.normalize ? features / features.norm(2, 1, true).clamp_min(1e-12) : features;
  at::Tensor dist = euclidean_distances(x, x);  // [N, N]
  const long n = features.size(0);
  at::Tensor same_label = labels.unsqueeze(0) == labels.unsqueeze(1);
  at::Tensor not_self = at::logical_not(at::eye(n, labels.options().dtype(at::kBool)));
  at::Tensor pos = same_label.logical_and(not_self);
  at::Tensor neg = same_label.logical_not();
  if (options.mining == TripletMining::CrossDomain) {
    at::Tensor other_domain = domains.unsqueeze(0) != domains.unsqueeze(1);
    at::Tensor pos_x = pos.logical_and(other_domain), neg_x = neg.logical_and(other_domain);
    at::Tensor has_x = pos_x.any(1).logical_and(neg_x.any(1)).unsqueeze(1);  // [N, 1]
    if (options.fallback_to_all) {
      pos = at::where(has_x, pos_x, pos);
      neg = at::where(has_x, neg_x, neg);
    } else {
      pos = pos_x.logical_and(has_x);
      neg = neg_x.logical_and(has_x);
    }
  }
  at::Tensor valid = pos.any(1).logical_and(neg.any(1));
  at::Tensor anchors = valid.nonzero().squeeze(1);

  // Hardest positive: the largest distance among positives; hardest negative: the
  // smallest among negatives. Masked entries are pushed out of the max/min.
  const double big = 1e9;
  at::Tensor d_ap = at::where(pos, dist, at::full_like(dist, -big)).amax(1);
  at::Tensor d_an = at::where(neg, dist, at::full_like(dist, big)).amin(1);
  d_ap = d_ap.index_select(0, anchors);
  d_an = d_an.index_select(0, anchors);

  TripletResult r;
  r.dist_ap = d_ap;
  r.dist_an = d_an;
  r.anchors = anchors;
  if (anchors.numel() == 0) {
    r.loss = (features * 0).sum();  // keeps the graph so callers can always backward()
    return r;
  }
  r.loss = options.soft_margin ? at::softplus(d_ap - d_an).mean() : at::relu(d_ap - d_an + options.margin).mean();
  return r;
}

}  // namespace toonreid
