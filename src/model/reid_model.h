// The re-identification model: a backbone and the BoT embedding head, built from the
// `model` section of the config, optionally initialised from pretrained weights.
#pragma once

#include <memory>
#include <string>

#include <torch/nn/module.h>

#include "model/backbone.h"
#include "model/embedding_head.h"

namespace toonreid {

class Config;
class ConfigSchema;

class ReidModelImpl : public torch::nn::Module {
 public:
  ReidModelImpl(std::shared_ptr<Backbone> backbone, EmbeddingHead head);
  // Training outputs (pooled feature, BNNeck feature, logits).
  HeadOutput forward(const torch::Tensor& images);
  // Test-time embedding [N, D] (the feature chosen by model.neck_feat).
  torch::Tensor embed(const torch::Tensor& images);
  Backbone& backbone() { return *backbone_; }
  EmbeddingHead& head() { return head_; }
  // Parameters of the head (for their own learning-rate factor).
  std::vector<torch::Tensor> head_parameters() const;
  // Freezes (or unfreezes) backbone stages [0, n): no gradients, BatchNorm statistics fixed.
  void freeze_stages(int n);
  int frozen_stages() const { return frozen_; }
  // Keeps frozen stages' normalisation layers in eval mode whenever the model trains.
  void train(bool on = true) override;
  // Every BatchNorm takes its training statistics over the ranks of `group` (nullptr:
  // per process again). The group must outlive the model's use of it.
  void synchronize_batch_norm(class ProcessGroup* group);

 private:
  std::shared_ptr<Backbone> backbone_;
  EmbeddingHead head_;
  int frozen_ = 0;
};
TORCH_MODULE(ReidModel);

void add_model_options(ConfigSchema& schema);

// num_classes: identities of the training set (0: no classifier). Loads the pretrained
// weights named by model.pretrained and logs what was loaded. The classifier's kind
// follows the identity loss the trainer uses (cosine for the margin losses); both kinds
// hold the same weights, so a checkpoint loads into either.
ReidModel build_model(const Config& config, int64_t num_classes, ClassifierKind classifier = ClassifierKind::Linear);

}  // namespace toonreid
