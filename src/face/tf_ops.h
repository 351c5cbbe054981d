// TensorFlow's conventions where they differ from LibTorch's, for networks ported from
// tfjs (face-api's detector and landmark net): 'same' padding, which pads the extra
// pixel of an even-sized strided convolution at the bottom/right only, and the legacy
// bilinear resize (align_corners=false, half_pixel_centers=false) that tfjs uses.
#pragma once

#include <ATen/core/Tensor.h>
#include <opencv2/core/mat.hpp>

namespace toonreid::tf {

// 2-D convolution with TF 'same' padding. x: [N, C, H, W]; weight OIHW; bias may be
// undefined; groups > 1 for depthwise convolutions.
at::Tensor conv2d_same(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t stride,
                       int64_t groups = 1);

// An 8-bit RGB image as float32 HWC pixels on a size x size canvas: the image padded
// with zeros to a square (at the bottom/right, or centred as face-api's
// padToSquare(centre) does: round(diff / 2) after, the rest before), then resized with
// tfjs' legacy bilinear rule (source = destination * in / out). Writes into `out`
// (size * size * 3 floats).
void pad_square_resize(const cv::Mat& rgb8, int size, bool centred, float* out);

}  // namespace toonreid::tf
