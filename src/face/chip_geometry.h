// Where a face goes in an aligned chip, and the similarity transform that puts it there.
//
// The template is dlib's mean face shape (dlib/image_transforms/interpolation.h,
// get_face_chip_details; dlib 19.24, Boost Software License 1.0): the 51 iBUG 300-W
// points 17..67 in a unit square. A chip of `size` pixels with `padding` p places point
// i at ((p + mean[i]) / (1 + 2p)) * size. dlib's face recognition ResNet was trained on
// 150x150 chips with p = 0.25, fitted (least squares, rotation + uniform scale +
// shift) to points 27..54 and 60..64: the nose, eyes and outer mouth, not the brows or
// lower lip, which move with expression. The fit and the mapping are dlib's own
// (chip_details, get_mapping_to_chip), so chips equal dlib's; every landmark scheme a
// user can supply goes through the same fit, with the template positions of its points.
#pragma once

#include <string>
#include <vector>

#include <opencv2/core/mat.hpp>
#include <opencv2/core/types.hpp>

namespace toonreid {

// Two templates:
//   dlib     the mean face above (dlib's face network: 150 px, padding 0.25).
//   arcface  insightface's five points for 112x112 chips (eye centres, nose tip, mouth
//            corners), the chip networks trained with ArcFace on MS1M expect
//            (MobileFaceNet: 112 px, padding 0). The points come from any landmark
//            scheme (68: the eyes' means, 30, 48, 54), fitted by least squares (a
//            similarity, as insightface's own alignment), and scaled to `size`; padding
//            p widens the view as for dlib's template: x -> (p + x / 112) / (1 + 2p) * size.
struct ChipGeometry {
  int size = 150;
  double padding = 0.25;
  std::string template_name = "dlib";  // dlib | arcface
};

// Landmark layouts toonreid understands, told apart by their number of points.
enum class LandmarkScheme {
  Ibug68,          // 68 iBUG 300-W points (face-api, dlib's shape predictor)
  FivePoint,       // 5 points: eye centres (image left, right), nose tip, mouth corners (left, right)
  WebCaricature17  // WebCaricature's FacialPoints: 17 points (see landmark_scheme_doc)
};
// The scheme of `count` points; throws DataError naming the count when none fits.
LandmarkScheme landmark_scheme(std::size_t count);
const char* landmark_scheme_name(LandmarkScheme scheme);

// The 2x3 matrix mapping image coordinates to chip coordinates (a similarity).
// Throws DataError when the landmarks are degenerate (all in one place).
cv::Matx23d chip_transform(const std::vector<cv::Point2f>& landmarks, const ChipGeometry& geometry);

// The chip: `image` (8-bit RGB) warped by `image_to_chip` to size x size, bilinear,
// outside the image filled with zeros (as dlib's extract_image_chip). Large reductions
// first shrink the image by area averaging, so that the chip is not aliased.
cv::Mat extract_chip(const cv::Mat& image, const cv::Matx23d& image_to_chip, int size);

// Where the ArcFace template puts its five points in a chip of this geometry.
std::vector<cv::Point2d> arcface_template(const ChipGeometry& geometry);

// How far 68 landmarks are from a face's shape: the RMS distance, in units of the face's
// size (dlib's mean face in a unit square), between the mean face and the landmarks
// after the best similarity fit of points 17..67. Landmarks of a face lie near 0.02-0.05;
// a landmark net run on something that is not a face scatters them further.
// Requires 68 landmarks.
double shape_fit_residual(const std::vector<cv::Point2f>& landmarks);

// Where the template puts dlib's point `index` (17..67) in a chip.
cv::Point2d template_point(int index, const ChipGeometry& geometry);

// The landmarks mapped through a transform (for drawing and tests).
std::vector<cv::Point2f> transform_points(const std::vector<cv::Point2f>& points, const cv::Matx23d& m);

}  // namespace toonreid
