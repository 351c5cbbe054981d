// The training objective of the configured losses: label-smoothed cross-entropy on the
// BNNeck logits, batch-hard triplet (cross-domain mining by default) on the pooled
// feature, and optional center loss, each with its weight from the `loss` section.
#pragma once

#include <map>
#include <string>

#include <torch/types.h>

#include "loss/margin_softmax.h"
#include "loss/triplet.h"
#include "model/embedding_head.h"

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

}  // namespace toonreid
