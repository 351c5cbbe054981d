// face-api's face detector: SSD with a MobileNet v1 backbone (TensorFlow object
// detection API, trained on WIDER FACE; weights in @vladmandic/face-api, MIT licence),
// ported to LibTorch. 512x512 input in [-1, 1]; six prediction heads over 5,118
// anchors; boxes decoded with the (10, 10, 5, 5) variances; face score = sigmoid of
// the second class logit; greedy NMS at IoU 0.5. Inference only: batch-norms are
// folded into the convolutions when the weights are loaded.
#pragma once

#include <filesystem>
#include <vector>

#include <ATen/core/Tensor.h>
#include <opencv2/core/mat.hpp>

namespace toonreid {

// A detected face in image pixels.
struct FaceBox {
  float x = 0, y = 0, width = 0, height = 0;
  float score = 0;
};

class SsdMobilenetV1 {
 public:
  static constexpr int kInputSize = 512;
  static constexpr int kAnchors = 5118;

  // Reads ssd_mobilenetv1_model-weights_manifest.json and its .bin from `folder`.
  explicit SsdMobilenetV1(const std::filesystem::path& folder);

  // Raw outputs for inputs [N, 3, 512, 512] scaled to [-1, 1]: boxes [N, 5118, 4] as
  // (ymin, xmin, ymax, xmax) relative to the square input, scores [N, 5118].
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& x) const;

  // The network input of one image, as face-api builds it: padded with zeros at the
  // bottom/right to a square, resized to 512 (tfjs' bilinear rule), x / 127.5 - 1. [3, 512, 512].
  static at::Tensor prepare(const cv::Mat& rgb8);

  // Faces in each image (8-bit RGB), best first: scores above `min_confidence`, NMS at
  // IoU 0.5, at most `max_results`, clipped to the image (face-api's locateFaces).
  std::vector<std::vector<FaceBox>> detect(const std::vector<cv::Mat>& images, float min_confidence = 0.5f,
                                           int max_results = 100) const;
  // Post-processing of one image's raw outputs (exposed for tests).
  static std::vector<FaceBox> select(const at::Tensor& boxes, const at::Tensor& scores, int image_width,
                                     int image_height, float min_confidence, int max_results);

 private:
  struct Conv {
    at::Tensor weight, bias;
    int64_t stride = 1;
    int64_t groups = 1;
  };
  std::vector<Conv> backbone_;     // conv_0, then depthwise/pointwise pairs 1..13
  std::vector<Conv> extra_;        // prediction_layer conv_0..7
  std::vector<Conv> box_head_, class_head_;  // per feature map 0..5
  at::Tensor anchors_;             // [5118, 4] (ymin, xmin, ymax, xmax)
};

}  // namespace toonreid
