#include "face/ssd_mobilenet.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "face/tf_ops.h"
#include "model/tfjs_weights.h"

namespace toonreid {

namespace {

constexpr double kBatchNormEpsilon = 0.0010000000474974513;  // as in face-api's mobileNetV1

at::Tensor clip6(const at::Tensor& x) { return torch::clamp(x, 0, 6); }

}  // namespace

SsdMobilenetV1::SsdMobilenetV1(const std::filesystem::path& folder) {
  TfjsWeights w = TfjsWeights::load(folder / "ssd_mobilenetv1_model-weights_manifest.json");
  auto pointwise = [&](const std::string& prefix, int64_t stride) {
    return Conv{hwio_to_oihw(w.take(prefix + "/weights", 4)), w.take(prefix + "/convolution_bn_offset", 1), stride, 1};
  };
  backbone_.push_back(pointwise("MobilenetV1/Conv2d_0_pointwise", 2));
  for (int i = 1; i <= 13; ++i) {
    const std::string p = "MobilenetV1/Conv2d_" + std::to_string(i) + "_depthwise";
    at::Tensor filters = depthwise_to_oihw(w.take(p + "/depthwise_weights", 4));
    at::Tensor gamma = w.take(p + "/BatchNorm/gamma", 1), beta = w.take(p + "/BatchNorm/beta", 1);
    at::Tensor mean = w.take(p + "/BatchNorm/moving_mean", 1), var = w.take(p + "/BatchNorm/moving_variance", 1);
    // Fold the batch-norm into the depthwise filters: y = (conv(x) - mean) * a + beta.
    at::Tensor a = gamma / torch::sqrt(var + kBatchNormEpsilon);
    const int64_t stride = (i == 2 || i == 4 || i == 6 || i == 12) ? 2 : 1;
    backbone_.push_back(Conv{filters * a.view({-1, 1, 1, 1}), beta - mean * a, stride, filters.size(0)});
    backbone_.push_back(pointwise("MobilenetV1/Conv2d_" + std::to_string(i) + "_pointwise", 1));
  }
  for (int i = 0; i <= 7; ++i) extra_.push_back(pointwise("Prediction/Conv2d_" + std::to_string(i) + "_pointwise", i % 2 ? 2 : 1));
  for (int i = 0; i <= 5; ++i) {
    const std::string p = "Prediction/BoxPredictor_" + std::to_string(i);
    box_head_.push_back(Conv{hwio_to_oihw(w.take(p + "/BoxEncodingPredictor/weights", 4)),
                             w.take(p + "/BoxEncodingPredictor/biases", 1), 1, 1});
    class_head_.push_back(Conv{hwio_to_oihw(w.take(p + "/ClassPredictor/weights", 4)),
                               w.take(p + "/ClassPredictor/biases", 1), 1, 1});
  }
  for (auto* convs : {&backbone_, &extra_, &box_head_, &class_head_})
    for (Conv& c : *convs) c.weight = c.weight.contiguous(at::MemoryFormat::ChannelsLast);
  anchors_ = w.take("Output/extra_dim", 3).reshape({-1, 4}).contiguous();
  if (anchors_.size(0) != kAnchors)
    throw Error(w.origin().string() + ": Output/extra_dim holds " + std::to_string(anchors_.size(0)) + " anchors, expected " +
                std::to_string(kAnchors));
  // The remaining float tensors are graph constants of the TF export (pre-processing).
  w.expect_all_taken({"Preprocessor/"});
}

std::pair<at::Tensor, at::Tensor> SsdMobilenetV1::forward(const at::Tensor& input) const {
  torch::NoGradGuard no_grad;
  auto run = [](const at::Tensor& x, const Conv& c) {
    return clip6(tf::conv2d_same(x, c.weight, c.bias, c.stride, c.groups));
  };
  // Channels-last runs the depthwise convolutions through oneDNN: 1.4-2x faster on CPU.
  at::Tensor x = input.contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor conv11;
  for (std::size_t i = 0; i < backbone_.size(); ++i) {
    x = run(x, backbone_[i]);
    if (i == 22) conv11 = x;  // pointwise output of pair 11 (index 2 * 11)
  }
  std::vector<at::Tensor> maps = {conv11, x};
  at::Tensor y = x;
  for (std::size_t i = 0; i < extra_.size(); ++i) {
    y = run(y, extra_[i]);
    if (i % 2 == 1) maps.push_back(y);  // conv_1, conv_3, conv_5, conv_7
  }
  const int64_t n = input.size(0);
  std::vector<at::Tensor> boxes, classes;
  for (std::size_t i = 0; i < maps.size(); ++i) {
    // NCHW -> NHWC before flattening, so that anchors come in TF's order.
    boxes.push_back(tf::conv2d_same(maps[i], box_head_[i].weight, box_head_[i].bias, 1)
                        .permute({0, 2, 3, 1}).reshape({n, -1, 4}));
    classes.push_back(tf::conv2d_same(maps[i], class_head_[i].weight, class_head_[i].bias, 1)
                          .permute({0, 2, 3, 1}).reshape({n, -1, 3}));
  }
  at::Tensor enc = torch::cat(boxes, 1);     // [N, A, 4] (ty, tx, th, tw)
  at::Tensor logits = torch::cat(classes, 1);  // [N, A, 3]

  // Decode against the anchors (centre/size form), variances 10, 10, 5, 5.
  at::Tensor a = anchors_.unsqueeze(0);
  at::Tensor size_y = a.select(2, 2) - a.select(2, 0), size_x = a.select(2, 3) - a.select(2, 1);
  at::Tensor centre_y = a.select(2, 0) + size_y / 2, centre_x = a.select(2, 1) + size_x / 2;
  at::Tensor half_h = torch::exp(enc.select(2, 2) / 5) * size_y / 2;
  at::Tensor half_w = torch::exp(enc.select(2, 3) / 5) * size_x / 2;
  at::Tensor cy = enc.select(2, 0) / 10 * size_y + centre_y;
  at::Tensor cx = enc.select(2, 1) / 10 * size_x + centre_x;
  at::Tensor decoded = torch::stack({cy - half_h, cx - half_w, cy + half_h, cx + half_w}, 2);
  at::Tensor scores = torch::sigmoid(logits.select(2, 1));
  return {decoded, scores};
}

at::Tensor SsdMobilenetV1::prepare(const cv::Mat& rgb8) {
  at::Tensor hwc = torch::empty({kInputSize, kInputSize, 3}, torch::kFloat);
  tf::pad_square_resize(rgb8, kInputSize, /*centred=*/false, hwc.data_ptr<float>());
  return (hwc / 127.5f - 1.0f).permute({2, 0, 1}).contiguous();
}

std::vector<FaceBox> SsdMobilenetV1::select(const at::Tensor& boxes_t, const at::Tensor& scores_t, int image_width,
                                            int image_height, float min_confidence, int max_results) {
  at::Tensor boxes_c = boxes_t.contiguous(), scores_c = scores_t.contiguous();
  const float* boxes = boxes_c.data_ptr<float>();
  const float* scores = scores_c.data_ptr<float>();
  const int64_t count = scores_c.size(0);
  struct Candidate { float score; int64_t index; };
  std::vector<Candidate> candidates;
  for (int64_t i = 0; i < count; ++i)
    if (scores[i] > min_confidence) candidates.push_back({scores[i], i});
  std::stable_sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) { return a.score > b.score; });

  auto iou = [&](int64_t i, int64_t j) {
    const float* p = boxes + 4 * i;
    const float* q = boxes + 4 * j;
    const float ymin_i = std::min(p[0], p[2]), xmin_i = std::min(p[1], p[3]), ymax_i = std::max(p[0], p[2]), xmax_i = std::max(p[1], p[3]);
    const float ymin_j = std::min(q[0], q[2]), xmin_j = std::min(q[1], q[3]), ymax_j = std::max(q[0], q[2]), xmax_j = std::max(q[1], q[3]);
    const float area_i = (ymax_i - ymin_i) * (xmax_i - xmin_i), area_j = (ymax_j - ymin_j) * (xmax_j - xmin_j);
    if (area_i <= 0 || area_j <= 0) return 0.0f;
    const float ih = std::max(std::min(ymax_i, ymax_j) - std::max(ymin_i, ymin_j), 0.0f);
    const float iw = std::max(std::min(xmax_i, xmax_j) - std::max(xmin_i, xmin_j), 0.0f);
    return ih * iw / (area_i + area_j - ih * iw);
  };
  std::vector<int64_t> selected;
  const std::size_t limit = static_cast<std::size_t>(std::max(0, max_results));
  for (const Candidate& c : candidates) {
    if (selected.size() >= limit) break;
    bool keep = true;
    for (int64_t s : selected)
      if (iou(c.index, s) > 0.5f) { keep = false; break; }
    if (keep) selected.push_back(c.index);
  }
  // Boxes are relative to the padded square. face-api rescales them by 512 / (the
  // image's side at 512 scale, rounded) and then by the image size; the same here.
  const double side = std::max(image_width, image_height);
  const double scaled_w = std::round(image_width * kInputSize / side), scaled_h = std::round(image_height * kInputSize / side);
  const double sx = kInputSize / scaled_w * image_width, sy = kInputSize / scaled_h * image_height;
  std::vector<FaceBox> out;
  for (int64_t i : selected) {
    const float* b = boxes + 4 * i;
    const double top = std::max(0.0f, b[0]) * sy, bottom = std::min(1.0f, b[2]) * sy;
    const double left = std::max(0.0f, b[1]) * sx, right = std::min(1.0f, b[3]) * sx;
    out.push_back(FaceBox{static_cast<float>(left), static_cast<float>(top), static_cast<float>(right - left),
                          static_cast<float>(bottom - top), scores[i]});
  }
  return out;
}

std::vector<std::vector<FaceBox>> SsdMobilenetV1::detect(const std::vector<cv::Mat>& images, float min_confidence,
                                                         int max_results) const {
  std::vector<std::vector<FaceBox>> out;
  if (images.empty()) return out;
  std::vector<at::Tensor> inputs;
  for (const cv::Mat& m : images) inputs.push_back(prepare(m));
  auto [boxes, scores] = forward(torch::stack(inputs));
  for (std::size_t i = 0; i < images.size(); ++i)
    out.push_back(select(boxes[static_cast<int64_t>(i)], scores[static_cast<int64_t>(i)], images[i].cols, images[i].rows,
                         min_confidence, max_results));
  return out;
}

}  // namespace toonreid
