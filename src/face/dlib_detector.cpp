#include "face/dlib_detector.h"

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>
#include <dlib/serialize.h>

#include <cmath>
#include <fstream>

#include "core/error.h"

namespace toonreid {

std::filesystem::path default_dlib_predictor() { return "/usr/share/dlib/shape_predictor_68_face_landmarks.dat"; }

struct DlibFaceFinder::Impl {
  dlib::frontal_face_detector detector;  // copied per call: its scanner keeps state
  dlib::shape_predictor predictor;
  int upsample = 1;
};

namespace {

dlib::matrix<unsigned char> to_gray(const cv::Mat& rgb8) {
  dlib::matrix<unsigned char> gray(rgb8.rows, rgb8.cols);
  for (int y = 0; y < rgb8.rows; ++y) {
    const uchar* row = rgb8.ptr<uchar>(y);
    for (int x = 0; x < rgb8.cols; ++x)
      gray(y, x) = static_cast<unsigned char>((299 * row[3 * x] + 587 * row[3 * x + 1] + 114 * row[3 * x + 2] + 500) / 1000);
  }
  return gray;
}

std::vector<cv::Point2f> parts_of(const dlib::full_object_detection& shape, double scale) {
  std::vector<cv::Point2f> out;
  for (unsigned long i = 0; i < shape.num_parts(); ++i)
    out.emplace_back(static_cast<float>(shape.part(i).x() / scale), static_cast<float>(shape.part(i).y() / scale));
  return out;
}

}  // namespace

DlibFaceFinder::DlibFaceFinder(const std::filesystem::path& predictor, int upsample) : impl_(std::make_unique<Impl>()) {
  if (!std::filesystem::exists(predictor))
    throw Error(predictor.string() + ": dlib's 68-point shape predictor is missing (run `make deps`: Debian package libdlib-data)");
  try {
    dlib::deserialize(predictor.string()) >> impl_->predictor;
  } catch (const std::exception& e) {
    throw Error(predictor.string() + ": cannot read dlib's shape predictor: " + e.what());
  }
  if (impl_->predictor.num_parts() != 68)
    throw Error(predictor.string() + ": a shape predictor of " + std::to_string(impl_->predictor.num_parts()) +
                " points, expected 68");
  impl_->detector = dlib::get_frontal_face_detector();
  impl_->upsample = std::max(0, upsample);
}

DlibFaceFinder::~DlibFaceFinder() = default;

std::optional<DlibFaceFinder::Found> DlibFaceFinder::find(const cv::Mat& rgb8) const {
  dlib::matrix<unsigned char> gray = to_gray(rgb8);
  double scale = 1.0;
  for (int i = 0; i < impl_->upsample; ++i) {
    dlib::pyramid_up(gray);
    scale *= 2.0;
  }
  dlib::frontal_face_detector detector = impl_->detector;
  std::vector<dlib::rect_detection> found;
  detector(gray, found);
  if (found.empty()) return std::nullopt;
  const auto best = std::max_element(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return a.detection_confidence < b.detection_confidence;
  });
  const dlib::full_object_detection shape = impl_->predictor(gray, best->rect);
  Found out;
  const auto& r = best->rect;
  out.box = FaceBox{static_cast<float>(r.left() / scale), static_cast<float>(r.top() / scale),
                    static_cast<float>(r.width() / scale), static_cast<float>(r.height() / scale),
                    static_cast<float>(best->detection_confidence)};
  out.landmarks = parts_of(shape, scale);
  return out;
}

std::vector<cv::Point2f> DlibFaceFinder::landmarks(const cv::Mat& rgb8, const FaceBox& box) const {
  const dlib::matrix<unsigned char> gray = to_gray(rgb8);
  const dlib::rectangle rect(std::lround(box.x), std::lround(box.y), std::lround(box.x + box.width) - 1,
                             std::lround(box.y + box.height) - 1);
  return parts_of(impl_->predictor(gray, rect), 1.0);
}

}  // namespace toonreid
