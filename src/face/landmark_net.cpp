#include "face/landmark_net.h"

#include <torch/torch.h>

#include <algorithm>

#include "core/error.h"
#include "face/tf_ops.h"
#include "model/tfjs_weights.h"

namespace toonreid {

FaceLandmarkNet68::FaceLandmarkNet68(const std::filesystem::path& folder) {
  TfjsWeights w = TfjsWeights::load(folder / "face_landmark_68_model-weights_manifest.json");
  auto separable = [&](const std::string& p) {
    return SeparableConv{depthwise_to_oihw(w.take(p + "/depthwise_filter", 4)), hwio_to_oihw(w.take(p + "/pointwise_filter", 4)),
                         w.take(p + "/bias", 1)};
  };
  for (int b = 0; b < 4; ++b) {
    const std::string p = "dense" + std::to_string(b);
    if (b == 0) {
      blocks_[b].first_weight = hwio_to_oihw(w.take(p + "/conv0/filters", 4));
      blocks_[b].first_bias = w.take(p + "/conv0/bias", 1);
    } else {
      blocks_[b].first_separable = separable(p + "/conv0");
    }
    for (int c = 1; c <= 3; ++c) blocks_[b].convs[c - 1] = separable(p + "/conv" + std::to_string(c));
  }
  fc_weight_ = w.take("fc/weights", 2).t().contiguous();
  fc_bias_ = w.take("fc/bias", 1);
  w.expect_all_taken();
}

namespace {

at::Tensor separable_forward(const at::Tensor& x, const at::Tensor& dw, const at::Tensor& pw, const at::Tensor& bias,
                             int64_t stride) {
  at::Tensor y = tf::conv2d_same(x, dw, {}, stride, x.size(1));
  return torch::conv2d(y, pw, bias);
}

}  // namespace

at::Tensor FaceLandmarkNet68::block_forward(const at::Tensor& x, const DenseBlock& b, bool first) const {
  at::Tensor out1 = first ? tf::conv2d_same(x, b.first_weight, b.first_bias, 2)
                          : separable_forward(x, b.first_separable.depthwise, b.first_separable.pointwise,
                                              b.first_separable.bias, 2);
  out1 = torch::relu(out1);
  auto sep = [&](const at::Tensor& in, int i) {
    return separable_forward(in, b.convs[i].depthwise, b.convs[i].pointwise, b.convs[i].bias, 1);
  };
  at::Tensor out2 = sep(out1, 0);
  at::Tensor out3 = sep(torch::relu(out1 + out2), 1);
  at::Tensor out4 = sep(torch::relu(out1 + (out2 + out3)), 2);
  return torch::relu(out1 + (out2 + (out3 + out4)));
}

at::Tensor FaceLandmarkNet68::forward(const at::Tensor& input) const {
  torch::NoGradGuard no_grad;
  const at::Tensor mean = torch::tensor({122.782f, 117.001f, 104.298f}).view({1, 3, 1, 1});
  at::Tensor x = (input - mean) / 255.0f;
  for (int b = 0; b < 4; ++b) x = block_forward(x, blocks_[b], b == 0);
  x = torch::avg_pool2d(x, {7, 7}, {2, 2});  // 7x7 'valid' -> 1x1
  return torch::addmm(fc_bias_, x.flatten(1), fc_weight_.t());
}

at::Tensor FaceLandmarkNet68::prepare(const cv::Mat& crop_rgb8) {
  at::Tensor hwc = torch::empty({kInputSize, kInputSize, 3}, torch::kFloat);
  tf::pad_square_resize(crop_rgb8, kInputSize, /*centred=*/true, hwc.data_ptr<float>());
  return hwc.permute({2, 0, 1}).contiguous();
}

std::vector<std::vector<cv::Point2f>> FaceLandmarkNet68::predict(const std::vector<cv::Mat>& crops) const {
  std::vector<std::vector<cv::Point2f>> out;
  if (crops.empty()) return out;
  std::vector<at::Tensor> inputs;
  for (const cv::Mat& c : crops) inputs.push_back(prepare(c));
  at::Tensor raw = forward(torch::stack(inputs)).contiguous();
  for (std::size_t i = 0; i < crops.size(); ++i) {
    // face-api's postProcess: undo the centring pad in the 112-pixel frame, then
    // express in crop pixels.
    const double w = crops[i].cols, h = crops[i].rows;
    const double scale = kInputSize / std::max(w, h);
    const double sw = w * scale, sh = h * scale;
    const double pad_x = sw < sh ? (sh - sw) / 2 : 0.0, pad_y = sh < sw ? (sw - sh) / 2 : 0.0;
    const float* r = raw[static_cast<int64_t>(i)].data_ptr<float>();
    std::vector<cv::Point2f> points(68);
    for (int k = 0; k < 68; ++k) {
      const double rel_x = (r[2 * k] * kInputSize - pad_x) / sw;
      const double rel_y = (r[2 * k + 1] * kInputSize - pad_y) / sh;
      points[k] = cv::Point2f(static_cast<float>(rel_x * w), static_cast<float>(rel_y * h));
    }
    out.push_back(std::move(points));
  }
  return out;
}

}  // namespace toonreid
