// The BoT head: global pooling (average or GeM), the BNNeck (a BatchNorm whose bias is
// frozen at zero, between the triplet feature and the classifier) and a bias-free
// classifier. The triplet loss sees the pooled feature, the ID loss the logits of the
// normalised feature; at test time either feature can be the embedding.
#pragma once

#include <torch/nn/modules/linear.h>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "model/batch_norm.h"

namespace toonreid {

enum class Pooling { Average, GeM };
enum class NeckFeature { BeforeBN, AfterBN };
// Linear: logits = W x (BoT). Cosine: logits = cos(W_k, x), both L2-normalised, for the
// margin-based softmax losses (loss/margin_softmax.h).
enum class ClassifierKind { Linear, Cosine };

struct HeadOutput {
  torch::Tensor pooled;      // [N, C] before the BNNeck (triplet, center losses)
  torch::Tensor normalized;  // [N, C] after the BNNeck
  torch::Tensor logits;      // [N, K] (cosines with a cosine classifier); undefined without a classifier
};

class EmbeddingHeadImpl : public torch::nn::Module {
 public:
  // num_classes == 0: no classifier (inference-only models).
  EmbeddingHeadImpl(int64_t channels, int64_t num_classes, Pooling pooling, NeckFeature neck_feature,
                    double gem_p = 3.0, ClassifierKind classifier = ClassifierKind::Linear);
  HeadOutput forward(const torch::Tensor& feature_map);
  // The test-time embedding chosen by neck_feature.
  torch::Tensor embedding(const HeadOutput& out) const;
  int64_t num_classes() const { return num_classes_; }

 private:
  torch::Tensor pool(const torch::Tensor& x);
  int64_t num_classes_;
  Pooling pooling_;
  NeckFeature neck_feature_;
  ClassifierKind classifier_kind_;
  torch::Tensor gem_p_;  // learnable GeM exponent
  BatchNorm bnneck_{nullptr};
  torch::nn::Linear classifier_{nullptr};
};
TORCH_MODULE(EmbeddingHead);

}  // namespace toonreid
