#include "model/resnet.h"

#include <torch/nn/init.h>
#include <torch/utils.h>

namespace toonreid {

namespace nn = torch::nn;

IBNImpl::IBNImpl(int64_t planes) : half_(planes / 2) {
  in_ = register_module("IN", nn::InstanceNorm2d(nn::InstanceNorm2dOptions(half_).affine(true)));
  bn_ = register_module("BN", BatchNorm(planes - half_));
}

torch::Tensor IBNImpl::forward(torch::Tensor x) {
  auto parts = torch::split(x, {half_, x.size(1) - half_}, 1);
  return torch::cat({in_->forward(parts[0].contiguous()), bn_->forward(parts[1].contiguous())}, 1);
}

namespace {

nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride = 1) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(k / 2).bias(false));
}

// A residual block; `bottleneck` selects the 1x1-3x3-1x1 (expansion 4) form.
class BlockImpl : public nn::Module {
 public:
  BlockImpl(int64_t in, int64_t planes, int64_t stride, bool bottleneck, bool ibn, bool needs_downsample)
      : bottleneck_(bottleneck) {
    const int64_t expansion = bottleneck ? 4 : 1;
    if (bottleneck) {
      conv1_ = register_module("conv1", conv(in, planes, 1));
      norm1_ = make_norm1(planes, ibn);
      conv2_ = register_module("conv2", conv(planes, planes, 3, stride));
      bn2_ = register_module("bn2", BatchNorm(planes));
      conv3_ = register_module("conv3", conv(planes, planes * expansion, 1));
      bn3_ = register_module("bn3", BatchNorm(planes * expansion));
    } else {
      conv1_ = register_module("conv1", conv(in, planes, 3, stride));
      norm1_ = make_norm1(planes, ibn);
      conv2_ = register_module("conv2", conv(planes, planes, 3));
      bn2_ = register_module("bn2", BatchNorm(planes));
    }
    if (needs_downsample) {
      downsample_ = register_module(
          "downsample", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(in, planes * expansion, 1).stride(stride).bias(false)),
                                       BatchNorm(planes * expansion)));
    }
  }

  torch::Tensor forward(torch::Tensor x) {
    torch::Tensor out = torch::relu(norm1(conv1_->forward(x)));
    if (bottleneck_) {
      out = torch::relu(bn2_->forward(conv2_->forward(out)));
      out = bn3_->forward(conv3_->forward(out));
    } else {
      out = bn2_->forward(conv2_->forward(out));
    }
    torch::Tensor identity = downsample_ ? downsample_->forward(x) : x;
    return torch::relu(out + identity);
  }

 private:
  std::shared_ptr<nn::Module> make_norm1(int64_t planes, bool ibn) {
    if (ibn) return register_module("bn1", IBN(planes));
    return register_module("bn1", BatchNorm(planes));
  }

  torch::Tensor norm1(const torch::Tensor& x) {
    if (auto ibn = std::dynamic_pointer_cast<IBNImpl>(norm1_)) return ibn->forward(x);
    return std::dynamic_pointer_cast<BatchNormImpl>(norm1_)->forward(x);
  }

  bool bottleneck_;
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  std::shared_ptr<nn::Module> norm1_;
  BatchNorm bn2_{nullptr}, bn3_{nullptr};
  nn::Sequential downsample_{nullptr};
};
TORCH_MODULE(Block);

}  // namespace

ResNet::ResNet(const ResNetSpec& spec, int last_stride) : spec_(spec) {
  if (spec.blocks.size() != 4) throw std::invalid_argument("ResNet needs 4 stages");
  conv1_ = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(3, 64, 7).stride(2).padding(3).bias(false)));
  bn1_ = register_module("bn1", BatchNorm(64));
  maxpool_ = register_module("maxpool", nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
  const int64_t planes[4] = {64, 128, 256, 512};
  const int64_t strides[4] = {1, 2, 2, last_stride};
  for (int i = 0; i < 4; ++i) {
    // IBN-a: stages 1-3 only; the last stage keeps BatchNorm for discriminative features.
    auto layer = make_stage(planes[i], spec.blocks[static_cast<std::size_t>(i)], strides[i], spec.ibn_a && i < 3);
    layers_.push_back(register_module("layer" + std::to_string(i + 1), layer));
  }
  out_channels_ = static_cast<int>(512 * (spec.bottleneck ? 4 : 1));
  // He initialisation as torchvision; BN weight 1, bias 0.
  for (auto& m : modules(false)) {
    if (auto* c = m->as<nn::Conv2d>()) nn::init::kaiming_normal_(c->weight, 0, torch::kFanOut, torch::kReLU);
  }
}

nn::Sequential ResNet::make_stage(int64_t planes, int blocks, int64_t stride, bool ibn) {
  const int64_t expansion = spec_.bottleneck ? 4 : 1;
  nn::Sequential seq;
  for (int b = 0; b < blocks; ++b) {
    const int64_t s = b == 0 ? stride : 1;
    const bool down = b == 0 && (stride != 1 || in_planes_ != planes * expansion);
    seq->push_back(Block(in_planes_, planes, s, spec_.bottleneck, ibn, down));
    in_planes_ = planes * expansion;
  }
  return seq;
}

torch::Tensor ResNet::forward(torch::Tensor x) {
  x = maxpool_->forward(torch::relu(bn1_->forward(conv1_->forward(x))));
  for (auto& layer : layers_) x = layer->forward(x);
  return x;
}

std::vector<std::shared_ptr<nn::Module>> ResNet::stage(int index) {
  if (index == 0) return {conv1_.ptr(), bn1_.ptr()};
  if (index >= 1 && index <= 4) return {layers_[static_cast<std::size_t>(index - 1)].ptr()};
  throw std::out_of_range("ResNet has stages 0..4");
}

}  // namespace toonreid
