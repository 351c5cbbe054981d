// The training objective of the configured losses: label-smoothed cross-entropy (or a
// margin softmax) on the BNNeck logits, batch-hard triplet (cross-domain mining by
// default) on the pooled feature, optional center loss, and the anti-forgetting terms of
// fine-tuning (L2-SP towards the starting weights, feature distillation from the frozen
// starting network), each with its weight from the `loss` section.
//
// compute_objective is the pure tensor function of the first three terms; Objective is
// the stateful whole the trainer steps: it owns the centres and their optimiser, the
// starting weights and the teacher network.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "loss/margin_softmax.h"
#include "loss/triplet.h"
#include "model/embedding_head.h"
#include "model/reid_model.h"

namespace torch::optim {
class Optimizer;
}
namespace torch::serialize {
class InputArchive;
class OutputArchive;
}

namespace toonreid {

class Config;
class ConfigSchema;

struct ObjectiveOptions {
  double id_weight = 1.0;
  double label_smoothing = 0.1;
  std::string id_loss = "softmax";  // softmax | cosface | arcface | circle
  double id_scale = 30.0;           // s of the margin losses
  double id_margin = 0.35;          // m of the margin losses
  double l2sp_weight = 0.0;         // L2-SP: weight of sum ||w - w0||^2 over the backbone
  double distill_weight = 0.0;      // weight of 1 - cos(f, f0) against the frozen starting network
  double triplet_weight = 1.0;
  TripletOptions triplet;
  double center_weight = 0.0;  // BoT: 0.0005
  double center_lr = 0.5;      // SGD LR of the centres (BoT)
};

struct ObjectiveTerms {
  torch::Tensor total;                   // differentiable
  std::map<std::string, double> values;  // "id", "triplet", "center", "total"
  double accuracy = 0;                   // classifier accuracy on the batch
};

void add_loss_options(ConfigSchema& schema);
ObjectiveOptions objective_options(const Config& config);

// The batch the triplet loss mines in, when it is not the local one: a data-parallel
// job's global batch (features all-gathered with gradients).
struct TripletBatch {
  torch::Tensor features, labels, domains;
};

// centers: [K, D] trainable tensor, or undefined when center loss is off.
ObjectiveTerms compute_objective(const HeadOutput& out, const torch::Tensor& labels, const torch::Tensor& domains,
                                 const torch::Tensor& centers, const ObjectiveOptions& options,
                                 const TripletBatch* triplet_batch = nullptr);

// The objective as the trainer uses it. Not thread-safe; lives on one device.
class Objective {
 public:
  // `classes`, `feature_dim`: the classifier's identities and the pooled feature's size
  // (the centres are [classes, feature_dim], drawn from LibTorch's generator when
  // center loss is on).
  Objective(ObjectiveOptions options, int64_t classes, int64_t feature_dim, torch::Device device);
  ~Objective();
  Objective(Objective&&) noexcept;
  Objective& operator=(Objective&&) noexcept;

  const ObjectiveOptions& options() const { return options_; }
  // True when L2-SP or distillation is on: they need starting weights (anchor()).
  bool needs_starting_weights() const;
  bool anchored() const { return !starting_.empty(); }
  // Distillation's teacher: a network of the student's architecture (any weights: anchor()
  // overwrites them); required before anchor() when options.distill_weight > 0.
  void set_teacher(ReidModel teacher);
  // Anchors L2-SP and the teacher at `starting` (names of model->named_parameters() and
  // named_buffers(); the classifier is not needed). Throws Error naming a missing tensor.
  void anchor(ReidModel& model, std::map<std::string, torch::Tensor> starting);
  // The starting weights of `model` as it is now: every parameter but the classifier's,
  // and every buffer.
  static std::map<std::string, torch::Tensor> starting_weights_of(ReidModel& model);

  // Every term at once; `images` feed the teacher. `global`: the batch the triplet loss
  // mines in when it is not the local one. total is differentiable; values hold every
  // term ("id", "triplet", "center", "l2sp", "distill") and "total".
  ObjectiveTerms compute(const HeadOutput& out, const torch::Tensor& images, const torch::Tensor& labels,
                         const torch::Tensor& domains, const TripletBatch* global = nullptr);

  // Trainable tensors of the objective itself (the centres), with names for messages.
  std::vector<torch::Tensor> parameters() const;
  std::vector<std::string> parameter_names() const;
  void zero_grad();
  // Steps the centres (at loss.center_lr whatever their loss weight, as BoT does).
  void step();

  // Checkpoint entries "centers", "center_optimizer" and the starting weights.
  void save(torch::serialize::OutputArchive& archive) const;
  // Reads what save() wrote and re-anchors at the stored starting weights; `name` for
  // messages. Throws Error when a needed entry is missing.
  void load(torch::serialize::InputArchive& archive, ReidModel& model, const std::string& name);

 private:
  ObjectiveOptions options_;
  torch::Tensor centers_;
  std::unique_ptr<torch::optim::Optimizer> center_optimizer_;
  std::map<std::string, torch::Tensor> starting_;
  std::vector<torch::Tensor> l2sp_params_, l2sp_anchors_;
  ReidModel teacher_{nullptr};
  torch::Device device_;
};

}  // namespace toonreid
