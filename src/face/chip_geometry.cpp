#include "face/chip_geometry.h"

#include <dlib/image_transforms/interpolation.h>
#include <opencv2/imgproc.hpp>

#include <cmath>

#include "core/error.h"

namespace toonreid {

namespace {

// dlib's mean face shape for iBUG points 17..67 (dlib 19.24, interpolation.h).
constexpr double kMeanFaceX[51] = {
    0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124, 0.904991, 0.98004,
    0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036, 0.490127, 0.554217, 0.613373, 0.121737,
    0.187122, 0.265825, 0.334606, 0.260918, 0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751,
    0.719335, 0.254149, 0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
    0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874, 0.553364, 0.490127,
    0.42689};
constexpr double kMeanFaceY[51] = {
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891, 0.0187482, 0.038915, 0.106454,
    0.203352, 0.307009, 0.409805, 0.515625, 0.587326, 0.609345, 0.628106, 0.609345, 0.587326, 0.216423,
    0.178758, 0.179852, 0.231733, 0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423, 0.244077,
    0.245099, 0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805, 0.902192,
    0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746, 0.784792, 0.824182, 0.831803,
    0.824182};

// A correspondence: a point of the user's scheme and where the template puts it.
struct Pair {
  cv::Point2d image, chip;
};

cv::Point2d mean_of(const ChipGeometry& g, std::initializer_list<int> indices) {
  cv::Point2d sum(0, 0);
  for (int i : indices) sum += template_point(i, g);
  return sum * (1.0 / static_cast<double>(indices.size()));
}

std::vector<Pair> correspondences(const std::vector<cv::Point2f>& pts, const ChipGeometry& g) {
  std::vector<Pair> pairs;
  auto add = [&](std::size_t user_index, cv::Point2d chip) { pairs.push_back({cv::Point2d(pts[user_index]), chip}); };
  switch (landmark_scheme(pts.size())) {
    case LandmarkScheme::Ibug68:
      // dlib's own choice: skip the jaw, the brows and the lower lip.
      for (int i = 27; i < 68; ++i)
        if (!((55 <= i && i <= 59) || (65 <= i && i <= 67))) add(static_cast<std::size_t>(i), template_point(i, g));
      break;
    case LandmarkScheme::FivePoint:
      add(0, mean_of(g, {36, 37, 38, 39, 40, 41}));
      add(1, mean_of(g, {42, 43, 44, 45, 46, 47}));
      add(2, template_point(30, g));
      add(3, template_point(48, g));
      add(4, template_point(54, g));
      break;
    case LandmarkScheme::WebCaricature17:
      // 1-4 face contour, 5-8 brows, 9-12 eye corners (outer/inner, image left to right),
      // 13 nose tip, 14-17 mouth (left corner, upper lip, right corner, lower lip).
      // The contour, brows and lower lip are left out, as dlib leaves them out.
      add(8, template_point(36, g));
      add(9, template_point(39, g));
      add(10, template_point(42, g));
      add(11, template_point(45, g));
      add(12, template_point(30, g));
      add(13, template_point(48, g));
      add(14, template_point(51, g));
      add(15, template_point(54, g));
      break;
  }
  return pairs;
}

// insightface's ArcFace template for 112x112 chips (arcface_torch / insightface utils).
constexpr double kArcFace[5][2] = {
    {38.2946, 51.6963}, {73.5318, 51.5014}, {56.0252, 71.7366}, {41.5493, 92.3655}, {70.7299, 92.2041}};

cv::Point2d mean_point(const std::vector<cv::Point2f>& pts, std::initializer_list<int> indices) {
  cv::Point2d sum(0, 0);
  for (int i : indices) sum += cv::Point2d(pts[static_cast<std::size_t>(i)]);
  return sum * (1.0 / static_cast<double>(indices.size()));
}

// The five ArcFace points (eye centres left/right in the image, nose tip, mouth corners)
// from any supported scheme.
std::vector<cv::Point2d> five_points(const std::vector<cv::Point2f>& pts) {
  switch (landmark_scheme(pts.size())) {
    case LandmarkScheme::Ibug68:
      return {mean_point(pts, {36, 37, 38, 39, 40, 41}), mean_point(pts, {42, 43, 44, 45, 46, 47}), cv::Point2d(pts[30]),
              cv::Point2d(pts[48]), cv::Point2d(pts[54])};
    case LandmarkScheme::FivePoint:
      return {cv::Point2d(pts[0]), cv::Point2d(pts[1]), cv::Point2d(pts[2]), cv::Point2d(pts[3]), cv::Point2d(pts[4])};
    case LandmarkScheme::WebCaricature17:
      return {mean_point(pts, {8, 9}), mean_point(pts, {10, 11}), cv::Point2d(pts[12]), cv::Point2d(pts[13]),
              cv::Point2d(pts[15])};
  }
  return {};
}

// Least-squares similarity (rotation, uniform scale, shift; no reflection) taking
// `from` onto `to`: the closed form of Umeyama's estimate.
cv::Matx23d similarity_fit(const std::vector<cv::Point2d>& from, const std::vector<cv::Point2d>& to) {
  cv::Point2d mf(0, 0), mt(0, 0);
  for (std::size_t i = 0; i < from.size(); ++i) {
    mf += from[i];
    mt += to[i];
  }
  mf *= 1.0 / static_cast<double>(from.size());
  mt *= 1.0 / static_cast<double>(to.size());
  double sxx = 0, a = 0, b = 0;
  for (std::size_t i = 0; i < from.size(); ++i) {
    const cv::Point2d p = from[i] - mf, q = to[i] - mt;
    sxx += p.dot(p);
    a += p.x * q.x + p.y * q.y;
    b += p.x * q.y - p.y * q.x;
  }
  if (!(sxx > 1e-12) || !std::isfinite(sxx)) throw DataError("landmarks are degenerate (all at one point)");
  a /= sxx;
  b /= sxx;
  return cv::Matx23d(a, -b, mt.x - (a * mf.x - b * mf.y), b, a, mt.y - (b * mf.x + a * mf.y));
}

}  // namespace

std::vector<cv::Point2d> arcface_template(const ChipGeometry& g) {
  std::vector<cv::Point2d> out;
  for (const auto& p : kArcFace)
    out.emplace_back((g.padding + p[0] / 112.0) / (1 + 2 * g.padding) * g.size,
                     (g.padding + p[1] / 112.0) / (1 + 2 * g.padding) * g.size);
  return out;
}

double shape_fit_residual(const std::vector<cv::Point2f>& landmarks) {
  // Template points 17..67 in the unit square against the landmarks mapped into it.
  ChipGeometry unit{1, 0.0, "dlib"};
  std::vector<cv::Point2d> image, model;
  for (int i = 17; i < 68; ++i) {
    image.emplace_back(landmarks[static_cast<std::size_t>(i)]);
    model.push_back(template_point(i, unit));
  }
  const cv::Matx23d m = similarity_fit(image, model);
  double sum = 0;
  for (std::size_t i = 0; i < image.size(); ++i) {
    const cv::Point2d p(m(0, 0) * image[i].x + m(0, 1) * image[i].y + m(0, 2), m(1, 0) * image[i].x + m(1, 1) * image[i].y + m(1, 2));
    sum += (p - model[i]).dot(p - model[i]);
  }
  return std::sqrt(sum / static_cast<double>(image.size()));
}

LandmarkScheme landmark_scheme(std::size_t count) {
  switch (count) {
    case 68: return LandmarkScheme::Ibug68;
    case 5: return LandmarkScheme::FivePoint;
    case 17: return LandmarkScheme::WebCaricature17;
    default:
      throw DataError(std::to_string(count) +
                      " landmarks: expected 68 (iBUG 300-W), 17 (WebCaricature FacialPoints) or 5 (eyes, nose, mouth corners)");
  }
}

const char* landmark_scheme_name(LandmarkScheme scheme) {
  switch (scheme) {
    case LandmarkScheme::Ibug68: return "ibug68";
    case LandmarkScheme::FivePoint: return "five_point";
    case LandmarkScheme::WebCaricature17: return "webcaricature17";
  }
  return "?";
}

cv::Point2d template_point(int index, const ChipGeometry& g) {
  if (index < 17 || index > 67) throw Error("template_point: index " + std::to_string(index) + " is outside 17..67");
  const double p = g.padding;
  return cv::Point2d((p + kMeanFaceX[index - 17]) / (2 * p + 1) * g.size, (p + kMeanFaceY[index - 17]) / (2 * p + 1) * g.size);
}

cv::Matx23d chip_transform(const std::vector<cv::Point2f>& landmarks, const ChipGeometry& g) {
  if (g.template_name == "arcface") return similarity_fit(five_points(landmarks), arcface_template(g));
  if (g.template_name != "dlib") throw Error("chip template '" + g.template_name + "': expected dlib or arcface");
  const std::vector<Pair> pairs = correspondences(landmarks, g);
  double spread = 0;
  for (const Pair& p : pairs) spread += cv::norm(p.image - pairs.front().image);
  if (!(spread > 1e-6) || !std::isfinite(spread)) throw DataError("landmarks are degenerate (all at one point)");
  // dlib's own construction, so that chips are exactly those its network was trained on:
  // a least-squares similarity from the template to the landmarks defines the chip's
  // rectangle and angle, and the mapping sends the rectangle's corners to the chip's
  // corner pixels (0 and size - 1).
  std::vector<dlib::vector<double, 2>> from, to;
  for (const Pair& p : pairs) {
    from.emplace_back(p.chip.x, p.chip.y);
    to.emplace_back(p.image.x, p.image.y);
  }
  const dlib::chip_details details(from, to, dlib::chip_dims(g.size, g.size));
  const dlib::point_transform_affine m = dlib::get_mapping_to_chip(details);
  return cv::Matx23d(m.get_m()(0, 0), m.get_m()(0, 1), m.get_b()(0), m.get_m()(1, 0), m.get_m()(1, 1), m.get_b()(1));
}

cv::Mat extract_chip(const cv::Mat& image, const cv::Matx23d& image_to_chip, int size) {
  if (image.empty() || image.type() != CV_8UC3) throw Error("extract_chip: expects a non-empty 8-bit RGB image");
  cv::Matx23d m = image_to_chip;
  const double scale = std::sqrt(std::abs(m(0, 0) * m(1, 1) - m(0, 1) * m(1, 0)));  // chip px per image px
  cv::Mat source = image;
  if (scale < 0.5) {
    // Shrink first by area averaging to about twice the chip's resolution.
    const double f = std::min(1.0, 2.0 * scale);
    const int w = std::max(1, static_cast<int>(std::lround(image.cols * f)));
    const int h = std::max(1, static_cast<int>(std::lround(image.rows * f)));
    cv::resize(image, source, cv::Size(w, h), 0, 0, cv::INTER_AREA);
    const double fx = static_cast<double>(image.cols) / w, fy = static_cast<double>(image.rows) / h;
    // chip = M * (S * small) with small -> image: x_img = (x_small + 0.5) * fx - 0.5.
    const cv::Matx33d to_image(fx, 0, 0.5 * fx - 0.5, 0, fy, 0.5 * fy - 0.5, 0, 0, 1);
    const cv::Matx33d full(m(0, 0), m(0, 1), m(0, 2), m(1, 0), m(1, 1), m(1, 2), 0, 0, 1);
    const cv::Matx33d composed = full * to_image;
    m = cv::Matx23d(composed(0, 0), composed(0, 1), composed(0, 2), composed(1, 0), composed(1, 1), composed(1, 2));
  }
  cv::Mat chip;
  cv::warpAffine(source, chip, cv::Mat(m), cv::Size(size, size), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar::all(0));
  return chip;
}

std::vector<cv::Point2f> transform_points(const std::vector<cv::Point2f>& points, const cv::Matx23d& m) {
  std::vector<cv::Point2f> out;
  out.reserve(points.size());
  for (const auto& p : points)
    out.emplace_back(static_cast<float>(m(0, 0) * p.x + m(0, 1) * p.y + m(0, 2)),
                     static_cast<float>(m(1, 0) * p.x + m(1, 1) * p.y + m(1, 2)));
  return out;
}

}  // namespace toonreid
