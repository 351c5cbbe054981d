#include "model/dlib_resnet.h"

#include <torch/nn/functional/padding.h>

namespace toonreid {

namespace nn = torch::nn;

DlibConvImpl::DlibConvImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding)
    : stride_(stride), padding_(padding) {
  conv_ = register_module("conv", nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding)));
  scale_weight_ = register_parameter("scale_weight", torch::ones({out}));
  scale_bias_ = register_parameter("scale_bias", torch::zeros({out}));
}

torch::Tensor DlibConvImpl::forward(const torch::Tensor& x) {
  // (conv(x, W) + c) * s + b == conv(x, W * s) + (c * s + b): scaling the weights instead of
  // the activations gives the same values and gradients for the same parameters, but
  // saves two passes over every activation map (forward and backward); ~10% of a step.
  torch::Tensor weight = conv_->weight * scale_weight_.view({-1, 1, 1, 1});
  torch::Tensor bias = torch::addcmul(scale_bias_, conv_->bias, scale_weight_);
  return torch::conv2d(x, weight, bias, stride_, padding_);
}

DlibResidualImpl::DlibResidualImpl(int64_t in, int64_t out, bool down) : down_(down) {
  // Down blocks: stride 2 without padding ('valid', as face-api/TensorFlow compute it).
  conv1_ = register_module("conv1", DlibConv(in, out, 3, down ? 2 : 1, down ? 0 : 1));
  conv2_ = register_module("conv2", DlibConv(out, out, 3, 1, 1));
}

torch::Tensor DlibResidualImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = conv2_->forward(conv1_->forward(x).relu_());  // in place: a fresh tensor
  torch::Tensor shortcut = x;
  if (down_) {
    shortcut = torch::avg_pool2d(x, 2, 2);
    if (shortcut.size(1) < out.size(1))  // zero channels, as dlib's add_prev does
      shortcut = torch::cat({shortcut, torch::zeros_like(shortcut).narrow(1, 0, out.size(1) - shortcut.size(1))}, 1);
    // Odd sizes: the 'valid' convolution is one pixel smaller than the pooled shortcut;
    // face-api pads it with zeros at the bottom and right.
    const int64_t dh = shortcut.size(2) - out.size(2), dw = shortcut.size(3) - out.size(3);
    if (dh > 0 || dw > 0) out = torch::nn::functional::pad(out, torch::nn::functional::PadFuncOptions({0, dw, 0, dh}));
  }
  return (out + shortcut).relu_();
}

DlibResNet::DlibResNet(bool with_projection) : with_projection_(with_projection) {
  stem_ = register_module("conv32_down", DlibConv(3, 32, 7, 2, 0));
  const struct {
    const char* name;
    int64_t in, out;
    bool down;
  } layout[] = {{"conv32_1", 32, 32, false},   {"conv32_2", 32, 32, false},   {"conv32_3", 32, 32, false},
                {"conv64_down", 32, 64, true},  {"conv64_1", 64, 64, false},   {"conv64_2", 64, 64, false},
                {"conv64_3", 64, 64, false},    {"conv128_down", 64, 128, true}, {"conv128_1", 128, 128, false},
                {"conv128_2", 128, 128, false}, {"conv256_down", 128, 256, true}, {"conv256_1", 256, 256, false},
                {"conv256_2", 256, 256, false}, {"conv256_down_out", 256, 256, true}};
  for (const auto& b : layout) blocks_.emplace_back(b.name, register_module(b.name, DlibResidual(b.in, b.out, b.down)));
  if (with_projection_) fc_ = register_module("fc", nn::Conv2d(nn::Conv2dOptions(256, 128, 1).bias(false)));
}

torch::Tensor DlibResNet::forward(torch::Tensor x) {
  x = torch::max_pool2d(stem_->forward(x).relu_(), 3, 2);
  for (auto& [name, block] : blocks_) x = block->forward(x);
  return with_projection_ ? fc_->forward(x) : x;
}

torch::Tensor DlibResNet::descriptor(const torch::Tensor& images) {
  if (!with_projection_) throw std::logic_error("DlibResNet built without its projection has no descriptor");
  return forward(images).mean({2, 3});
}

std::vector<std::shared_ptr<nn::Module>> DlibResNet::stage(int index) {
  // Stages by width, like ResNet's: stem, 32, 64, 128, 256 channels (+ projection).
  const char* prefixes[] = {"", "conv32_", "conv64_", "conv128_", "conv256_"};
  if (index < 0 || index > 4) throw std::out_of_range("DlibResNet has stages 0..4");
  std::vector<std::shared_ptr<nn::Module>> modules;
  if (index == 0) return {stem_.ptr()};
  for (auto& [name, block] : blocks_)
    if (name.rfind(prefixes[index], 0) == 0) modules.push_back(block.ptr());
  if (index == 4 && fc_) modules.push_back(fc_.ptr());
  return modules;
}

}  // namespace toonreid
