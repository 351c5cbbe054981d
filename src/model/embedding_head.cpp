#include "model/embedding_head.h"

#include <torch/nn/functional/normalization.h>
#include <torch/nn/init.h>
#include <torch/utils.h>

namespace toonreid {

namespace nn = torch::nn;

EmbeddingHeadImpl::EmbeddingHeadImpl(int64_t channels, int64_t num_classes, Pooling pooling, NeckFeature neck_feature,
                                     double gem_p, ClassifierKind classifier)
    : num_classes_(num_classes), pooling_(pooling), neck_feature_(neck_feature), classifier_kind_(classifier) {
  if (pooling == Pooling::GeM) gem_p_ = register_parameter("gem_p", torch::full({1}, gem_p));
  bnneck_ = register_module("bnneck", BatchNorm(channels));
  // BNNeck: scale learnable, shift fixed at zero (BoT): keeps the normalised feature
  // centred so the classifier's hyperplanes pass through the origin.
  torch::NoGradGuard no_grad;
  bnneck_->weight.fill_(1.0);
  bnneck_->bias.zero_();
  bnneck_->bias.set_requires_grad(false);
  if (num_classes > 0) {
    classifier_ = register_module("classifier", nn::Linear(nn::LinearOptions(channels, num_classes).bias(false)));
    nn::init::normal_(classifier_->weight, 0.0, 0.001);
  }
}

torch::Tensor EmbeddingHeadImpl::pool(const torch::Tensor& x) {
  if (pooling_ == Pooling::Average) return x.mean({2, 3});
  // GeM: (mean x^p)^(1/p), on positive activations.
  torch::Tensor p = gem_p_.clamp_min(1.0);
  return x.clamp_min(1e-6).pow(p).mean({2, 3}).pow(1.0 / p);
}

HeadOutput EmbeddingHeadImpl::forward(const torch::Tensor& feature_map) {
  HeadOutput out;
  out.pooled = pool(feature_map);
  out.normalized = bnneck_->forward(out.pooled);
  if (classifier_) {
    out.logits = classifier_kind_ == ClassifierKind::Linear
                     ? classifier_->forward(out.normalized)
                     : torch::mm(torch::nn::functional::normalize(out.normalized, torch::nn::functional::NormalizeFuncOptions().dim(1)),
                                 torch::nn::functional::normalize(classifier_->weight, torch::nn::functional::NormalizeFuncOptions().dim(1)).t());
  }
  return out;
}

torch::Tensor EmbeddingHeadImpl::embedding(const HeadOutput& out) const {
  return neck_feature_ == NeckFeature::AfterBN ? out.normalized : out.pooled;
}

}  // namespace toonreid
