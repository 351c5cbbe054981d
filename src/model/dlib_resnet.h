// dlib's ResNet face embedder (dlib_face_recognition_resnet_model_v1, public domain),
// laid out as in @vladmandic/face-api's FaceRecognitionNet, whose weights toonreid
// imports (faceapi_weights.h). 150x150 RGB input normalised as (x - mean) / 255 with
// mean = (122.782, 117.001, 104.298); 29 convolutions in residual blocks of 32, 64, 128
// and 256 channels; global average pooling; a 256 -> 128 projection.
//
// As a toonreid backbone the projection is a 1x1 convolution on the final map, so that
// average pooling the 128-channel output gives exactly dlib's descriptor: the BoT head
// then pools, normalises and classifies it like any other backbone's map.
#pragma once

#include <torch/nn/modules/conv.h>

#include "model/backbone.h"

namespace toonreid {

// Convolution with bias followed by dlib's per-channel affine layer (y = x * w + b).
class DlibConvImpl : public torch::nn::Module {
 public:
  DlibConvImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t stride_, padding_;
  torch::nn::Conv2d conv_{nullptr};  // holds the weight and bias (state-dict names)
  torch::Tensor scale_weight_, scale_bias_;
};
TORCH_MODULE(DlibConv);

// Two 3x3 convolutions with a shortcut. Down blocks halve the resolution (stride-2
// 'valid' convolution; 2x2 average-pooled shortcut, zero-padded to the new channels).
class DlibResidualImpl : public torch::nn::Module {
 public:
  DlibResidualImpl(int64_t in, int64_t out, bool down);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  bool down_;
  DlibConv conv1_{nullptr}, conv2_{nullptr};
};
TORCH_MODULE(DlibResidual);

class DlibResNet : public Backbone {
 public:
  // with_projection: end with the 256 -> 128 projection (the pretrained descriptor).
  explicit DlibResNet(bool with_projection = true);
  torch::Tensor forward(torch::Tensor images) override;
  int out_channels() const override { return with_projection_ ? 128 : 256; }
  std::vector<std::shared_ptr<torch::nn::Module>> stage(int index) override;
  int num_stages() const override { return 5; }

  // The 128-d face descriptor of dlib / face-api (unnormalised), [N, 128].
  torch::Tensor descriptor(const torch::Tensor& images);

  static constexpr int kInputSize = 150;
  // Input normalisation in toonreid's terms: mean in [0, 1], std 1/255 * 255 = 1.
  static std::vector<double> input_mean() { return {122.782 / 255, 117.001 / 255, 104.298 / 255}; }
  static std::vector<double> input_std() { return {1.0, 1.0, 1.0}; }

 private:
  bool with_projection_;
  DlibConv stem_{nullptr};
  std::vector<std::pair<std::string, DlibResidual>> blocks_;
  torch::nn::Conv2d fc_{nullptr};
};

}  // namespace toonreid
