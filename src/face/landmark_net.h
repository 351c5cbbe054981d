// face-api's 68-point face landmark net (FaceLandmark68Net, MIT licence), ported to
// LibTorch: four dense blocks of depthwise-separable convolutions on a 112x112 input,
// 7x7 average pooling and a 256 -> 136 fully connected layer giving (x, y) of the 68
// iBUG 300-W points relative to the (square-padded) input. Inference only.
#pragma once

#include <filesystem>
#include <vector>

#include <ATen/core/Tensor.h>
#include <opencv2/core/mat.hpp>
#include <opencv2/core/types.hpp>

namespace toonreid {

class FaceLandmarkNet68 {
 public:
  static constexpr int kInputSize = 112;

  // Reads face_landmark_68_model-weights_manifest.json and its .bin from `folder`.
  explicit FaceLandmarkNet68(const std::filesystem::path& folder);

  // Raw outputs [N, 136] for inputs [N, 3, 112, 112] of 0..255 pixels.
  at::Tensor forward(const at::Tensor& x) const;

  // The network input of one face crop, as face-api builds it: zero-padded to a centred
  // square, resized to 112 (tfjs' bilinear rule). [3, 112, 112], 0..255.
  static at::Tensor prepare(const cv::Mat& crop_rgb8);

  // The 68 landmarks of each crop, in that crop's pixel coordinates.
  std::vector<std::vector<cv::Point2f>> predict(const std::vector<cv::Mat>& crops) const;

 private:
  struct SeparableConv {
    at::Tensor depthwise, pointwise, bias;
  };
  struct DenseBlock {
    at::Tensor first_weight, first_bias;  // dense0: a regular 3x3 convolution
    SeparableConv first_separable;        // dense1..3: separable
    SeparableConv convs[3];
  };
  at::Tensor block_forward(const at::Tensor& x, const DenseBlock& block, bool first) const;
  DenseBlock blocks_[4];
  at::Tensor fc_weight_, fc_bias_;  // [136, 256], [136]
};

}  // namespace toonreid
