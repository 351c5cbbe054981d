// ResNet (He et al. 2016) and ResNet-IBN-a (Pan et al. 2018: instance normalisation on
// half of the channels after the first convolution of each block in stages 1-3), with a
// configurable last stride. Module names match torchvision / IBN-Net state dicts.
#pragma once

#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/functional/instancenorm.h>  // must precede the module header in LibTorch 1.13
#include <torch/nn/modules/instancenorm.h>
#include <torch/nn/modules/pooling.h>

#include "model/backbone.h"
#include "model/batch_norm.h"

namespace toonreid {

// IBN-a normalisation: InstanceNorm on the first half of the channels, BatchNorm on the rest.
class IBNImpl : public torch::nn::Module {
 public:
  explicit IBNImpl(int64_t planes);
  torch::Tensor forward(torch::Tensor x);

 private:
  int64_t half_;
  torch::nn::InstanceNorm2d in_{nullptr};
  BatchNorm bn_{nullptr};
};
TORCH_MODULE(IBN);

struct ResNetSpec {
  bool bottleneck;          // Bottleneck (50/101) or BasicBlock (18/34) blocks
  std::vector<int> blocks;  // blocks per stage
  bool ibn_a;
};

class ResNet : public Backbone {
 public:
  ResNet(const ResNetSpec& spec, int last_stride);
  torch::Tensor forward(torch::Tensor images) override;
  int out_channels() const override { return out_channels_; }
  std::vector<std::shared_ptr<torch::nn::Module>> stage(int index) override;
  int num_stages() const override { return 5; }

 private:
  torch::nn::Sequential make_stage(int64_t planes, int blocks, int64_t stride, bool ibn);
  ResNetSpec spec_;
  int64_t in_planes_ = 64;
  int out_channels_ = 0;
  torch::nn::Conv2d conv1_{nullptr};
  BatchNorm bn1_{nullptr};
  torch::nn::MaxPool2d maxpool_{nullptr};
  std::vector<torch::nn::Sequential> layers_;
};

}  // namespace toonreid
