#include "engine/objective.h"

#include "core/config.h"
#include "core/error.h"
#include "loss/center.h"
#include "loss/cross_entropy.h"

namespace toonreid {

void add_loss_options(ConfigSchema& schema) {
  schema.describe_section("loss", "Loss terms and their weights.");
  schema.add_float("loss.id_weight", 1.0, "Weight of the identity (cross-entropy) loss (0: off)").min(0);
  schema.add_float("loss.label_smoothing", 0.1, "Label smoothing epsilon of the identity loss").range(0, 0.99);
  schema.add_string("loss.id_loss", "softmax",
                    "Identity loss: softmax (BNNeck's linear classifier) or a margin softmax on a cosine classifier: "
                    "cosface, arcface, circle")
      .one_of({"softmax", "cosface", "arcface", "circle"});
  schema.add_float("loss.id_scale", 30.0, "Margin losses: scale s of the cosine logits").greater_than(0).max(1000);
  schema.add_float("loss.id_margin", 0.35, "Margin losses: margin m (CosFace ~0.35, ArcFace ~0.5 rad, Circle ~0.25)")
      .range(0, 1.5);
  schema.add_float("loss.l2sp_weight", 0.0,
                   "L2-SP: weight of the squared distance of the backbone's weights to their starting values (0: off)")
      .min(0);
  schema.add_float("loss.distill_weight", 0.0,
                   "Weight of feature distillation from the frozen starting network: mean 1 - cos(f, f0) (0: off)")
      .min(0);
  schema.add_float("loss.triplet_weight", 1.0, "Weight of the triplet loss (0: off)").min(0);
  schema.add_float("loss.triplet_margin", 0.3, "Triplet margin (ignored with soft margin)").min(0);
  schema.add_bool("loss.triplet_soft_margin", false, "Soft margin log(1 + exp(d_ap - d_an)) instead of a margin");
  schema.add_string("loss.triplet_mining", "cross_domain",
                    "Hard positives/negatives from the other domain only (cross_domain) or the whole batch (all)")
      .one_of({"cross_domain", "all"});
  schema.add_bool("loss.triplet_fallback", true,
                  "Cross-domain: anchors without a cross-domain positive or negative use the whole batch");
  schema.add_bool("loss.triplet_normalize", false, "L2-normalise features before the triplet loss");
  schema.add_float("loss.center_weight", 0.0, "Weight of the center loss (BoT: 0.0005; 0: off)").min(0);
  schema.add_float("loss.center_lr", 0.5, "SGD learning rate of the centres").greater_than(0);
}

ObjectiveOptions objective_options(const Config& config) {
  ObjectiveOptions o;
  o.id_weight = config.get_float("loss.id_weight");
  o.label_smoothing = config.get_float("loss.label_smoothing");
  o.id_loss = config.get_string("loss.id_loss");
  o.id_scale = config.get_float("loss.id_scale");
  o.id_margin = config.get_float("loss.id_margin");
  o.l2sp_weight = config.get_float("loss.l2sp_weight");
  o.distill_weight = config.get_float("loss.distill_weight");
  o.triplet_weight = config.get_float("loss.triplet_weight");
  o.triplet.margin = config.get_float("loss.triplet_margin");
  o.triplet.soft_margin = config.get_bool("loss.triplet_soft_margin");
  o.triplet.mining = config.get_string("loss.triplet_mining") == "all" ? TripletMining::All : TripletMining::CrossDomain;
  o.triplet.fallback_to_all = config.get_bool("loss.triplet_fallback");
  o.triplet.normalize = config.get_bool("loss.triplet_normalize");
  o.center_weight = config.get_float("loss.center_weight");
  o.center_lr = config.get_float("loss.center_lr");
  if (o.id_weight == 0 && o.triplet_weight == 0 && o.center_weight == 0)
    throw ConfigError(config.describe("loss.id_weight") + ": every loss weight is zero; nothing would be trained");
  return o;
}

ObjectiveTerms compute_objective(const HeadOutput& out, const torch::Tensor& labels, const torch::Tensor& domains,
                                 const torch::Tensor& centers, const ObjectiveOptions& o,
                                 const TripletBatch* triplet_batch) {
  ObjectiveTerms t;
  t.total = torch::zeros({}, out.pooled.options());
  if (o.id_weight > 0) {
    if (!out.logits.defined()) throw Error("the identity loss needs a model with a classifier");
    torch::Tensor id = o.id_loss == "softmax"
                           ? cross_entropy_label_smoothing(out.logits, labels, o.label_smoothing)
                           : margin_softmax_loss(out.logits, labels, parse_margin_loss(o.id_loss), o.id_scale,
                                                 o.id_margin, o.label_smoothing);
    t.total = t.total + o.id_weight * id;
    t.values["id"] = id.item<double>();
  }
  if (out.logits.defined())
    t.accuracy = (out.logits.argmax(1) == labels).to(torch::kFloat).mean().item<double>();
  if (o.triplet_weight > 0) {
    torch::Tensor tri = triplet_batch ? batch_hard_triplet(triplet_batch->features, triplet_batch->labels,
                                                           triplet_batch->domains, o.triplet)
                                            .loss
                                      : batch_hard_triplet(out.pooled, labels, domains, o.triplet).loss;
    t.total = t.total + o.triplet_weight * tri;
    t.values["triplet"] = tri.item<double>();
  }
  if (o.center_weight > 0) {
    if (!centers.defined()) throw Error("center loss is on but no centres were given");
    torch::Tensor c = center_loss(out.pooled, labels, centers);
    t.total = t.total + o.center_weight * c;
    t.values["center"] = c.item<double>();
  }
  t.values["total"] = t.total.item<double>();
  return t;
}

}  // namespace toonreid
