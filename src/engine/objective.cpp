#include "engine/objective.h"

#include "core/config.h"
#include "core/error.h"
#include "loss/center.h"
#include "loss/cross_entropy.h"
#include "loss/regularizers.h"
#include "model/model_checkpoint.h"

#include <torch/optim/sgd.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

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

Objective::Objective(ObjectiveOptions options, int64_t classes, int64_t feature_dim, torch::Device device)
    : options_(std::move(options)), device_(device) {
  if (options_.center_weight > 0) {
    centers_ = torch::randn({classes, feature_dim}, torch::TensorOptions().device(device_)).set_requires_grad(true);
    center_optimizer_ = std::make_unique<torch::optim::SGD>(std::vector<torch::Tensor>{centers_},
                                                            torch::optim::SGDOptions(options_.center_lr));
  }
}

void Objective::set_teacher(ReidModel teacher) {
  teacher_ = std::move(teacher);
  if (!teacher_) return;
  for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
  teacher_->to(device_);
  teacher_->eval();
}

Objective::~Objective() = default;
Objective::Objective(Objective&&) noexcept = default;
Objective& Objective::operator=(Objective&&) noexcept = default;

bool Objective::needs_starting_weights() const { return options_.l2sp_weight > 0 || options_.distill_weight > 0; }

std::map<std::string, torch::Tensor> Objective::starting_weights_of(ReidModel& model) {
  std::map<std::string, torch::Tensor> weights;
  for (auto& item : model->named_parameters())
    if (item.key().rfind("head.classifier", 0) != 0) weights[item.key()] = item.value().detach().clone();
  for (auto& item : model->named_buffers()) weights[item.key()] = item.value().detach().clone();
  return weights;
}

void Objective::anchor(ReidModel& model, std::map<std::string, torch::Tensor> starting) {
  if (options_.distill_weight > 0 && !teacher_)
    throw Error("loss.distill_weight > 0: the objective has no teacher network (set_teacher)");
  starting_ = std::move(starting);
  l2sp_params_.clear();
  l2sp_anchors_.clear();
  for (auto& item : model->backbone().named_parameters()) {
    auto it = starting_.find("backbone." + item.key());
    if (it == starting_.end()) throw Error("starting weights lack backbone parameter '" + item.key() + "'");
    l2sp_params_.push_back(item.value());
    l2sp_anchors_.push_back(it->second);
  }
  if (teacher_) {
    torch::NoGradGuard no_grad;
    for (auto& item : teacher_->named_parameters()) {
      auto it = starting_.find(item.key());
      if (it == starting_.end()) throw Error("starting weights lack parameter '" + item.key() + "'");
      item.value().copy_(it->second);
    }
    for (auto& item : teacher_->named_buffers())
      if (auto it = starting_.find(item.key()); it != starting_.end()) item.value().copy_(it->second);
  }
}

ObjectiveTerms Objective::compute(const HeadOutput& out, const torch::Tensor& images, const torch::Tensor& labels,
                                  const torch::Tensor& domains, const TripletBatch* global) {
  ObjectiveTerms terms = compute_objective(out, labels, domains, centers_, options_, global);
  if (needs_starting_weights() && !anchored())
    throw Error("L2-SP / distillation are on but the objective has no starting weights (anchor() first)");
  if (options_.l2sp_weight > 0) {
    torch::Tensor penalty = l2_sp_penalty(l2sp_params_, l2sp_anchors_);
    terms.total = terms.total + options_.l2sp_weight * penalty;
    terms.values["l2sp"] = penalty.item<double>();
  }
  if (options_.distill_weight > 0) {
    torch::Tensor target;
    {
      torch::NoGradGuard no_grad;
      target = teacher_->forward(images).pooled;
    }
    torch::Tensor d = feature_distillation_loss(out.pooled, target);
    terms.total = terms.total + options_.distill_weight * d;
    terms.values["distill"] = d.item<double>();
  }
  terms.values["total"] = terms.total.item<double>();
  return terms;
}

std::vector<torch::Tensor> Objective::parameters() const {
  if (centers_.defined()) return {centers_};
  return {};
}

std::vector<std::string> Objective::parameter_names() const {
  if (centers_.defined()) return {"centers (loss.center_weight)"};
  return {};
}

void Objective::zero_grad() {
  if (center_optimizer_) center_optimizer_->zero_grad();
}

void Objective::step() {
  if (!center_optimizer_) return;
  centers_.mutable_grad().mul_(1.0 / options_.center_weight);
  center_optimizer_->step();
}

void Objective::save(torch::serialize::OutputArchive& archive) const {
  if (center_optimizer_) {
    archive.write("centers", centers_.detach(), /*is_buffer=*/true);
    torch::serialize::OutputArchive copt;
    center_optimizer_->save(copt);
    archive.write("center_optimizer", copt);
  }
  if (!starting_.empty()) write_starting_weights(archive, starting_);
}

void Objective::load(torch::serialize::InputArchive& archive, ReidModel& model, const std::string& name) {
  if (center_optimizer_) {
    torch::NoGradGuard no_grad;
    torch::Tensor c;
    archive.read("centers", c, /*is_buffer=*/true);
    centers_.copy_(c);
    torch::serialize::InputArchive copt;
    archive.read("center_optimizer", copt);
    center_optimizer_->load(copt);
  }
  if (needs_starting_weights()) {
    // The starting weights of the interrupted run, not the resumed ones.
    std::map<std::string, torch::Tensor> starting = read_starting_weights(archive);
    if (starting.empty())
      throw Error(name + ": no starting weights stored (written without loss.l2sp_weight / "
                  "loss.distill_weight); cannot resume with them on");
    anchor(model, std::move(starting));
  }
}

}  // namespace toonreid
