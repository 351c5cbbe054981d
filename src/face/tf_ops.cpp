#include "face/tf_ops.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace toonreid::tf {

namespace {

// TF's 'same' padding for one dimension: (before, after).
std::pair<int64_t, int64_t> same_padding(int64_t in, int64_t kernel, int64_t stride) {
  const int64_t out = (in + stride - 1) / stride;
  const int64_t total = std::max<int64_t>((out - 1) * stride + kernel - in, 0);
  return {total / 2, total - total / 2};
}

}  // namespace

at::Tensor conv2d_same(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t stride,
                       int64_t groups) {
  const auto [top, bottom] = same_padding(x.size(2), weight.size(2), stride);
  const auto [left, right] = same_padding(x.size(3), weight.size(3), stride);
  const std::vector<int64_t> strides = {stride, stride}, dilation = {1, 1};
  if (top == bottom && left == right)
    return torch::conv2d(x, weight, bias, strides, std::vector<int64_t>{top, left}, dilation, groups);
  // Asymmetric: pad explicitly (the extra row/column goes at the bottom/right).
  at::Tensor padded = torch::constant_pad_nd(x, {left, right, top, bottom}, 0);
  return torch::conv2d(padded, weight, bias, strides, std::vector<int64_t>{0, 0}, dilation, groups);
}

void pad_square_resize(const cv::Mat& rgb8, int size, bool centred, float* out) {
  if (rgb8.type() != CV_8UC3 || rgb8.empty()) throw Error("pad_square_resize: expects a non-empty 8-bit RGB image");
  const int h = rgb8.rows, w = rgb8.cols;
  const int side = std::max(h, w);
  // Offset of the image on the square canvas.
  int off_x = 0, off_y = 0;
  if (centred) {
    const int diff = side - std::min(h, w);
    const int after = static_cast<int>(std::round(diff * 0.5));
    if (h > w) off_x = diff - after;
    else if (w > h) off_y = diff - after;
  }
  // tfjs computes the scale in float32: in / out.
  const float scale = static_cast<float>(side) / static_cast<float>(size);
  std::vector<int> x0(size), x1(size);
  std::vector<float> fx(size);
  for (int i = 0; i < size; ++i) {
    const float src = static_cast<float>(i) * scale;
    const int lo = static_cast<int>(std::floor(src));
    x0[i] = lo;
    x1[i] = std::min(lo + 1, side - 1);
    fx[i] = src - static_cast<float>(lo);
  }
  auto pixel = [&](int y, int x, int c) -> float {
    // Canvas coordinates -> image; zero outside the image.
    const int iy = y - off_y, ix = x - off_x;
    if (iy < 0 || ix < 0 || iy >= h || ix >= w) return 0.0f;
    return static_cast<float>(rgb8.ptr<uchar>(iy)[3 * ix + c]);
  };
  for (int oy = 0; oy < size; ++oy) {
    const int y0 = x0[oy], y1 = x1[oy];
    const float dy = fx[oy];
    float* row = out + static_cast<std::size_t>(oy) * size * 3;
    for (int ox = 0; ox < size; ++ox) {
      const int a = x0[ox], b = x1[ox];
      const float dx = fx[ox];
      for (int c = 0; c < 3; ++c) {
        const float top = pixel(y0, a, c) + (pixel(y0, b, c) - pixel(y0, a, c)) * dx;
        const float bottom = pixel(y1, a, c) + (pixel(y1, b, c) - pixel(y1, a, c)) * dx;
        row[3 * ox + c] = top + (bottom - top) * dy;
      }
    }
  }
}

}  // namespace toonreid::tf
