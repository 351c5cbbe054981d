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

namespace {

// The detector's faces in `gray` (scaled by `scale`), best first.
std::vector<DlibFaceFinder::Found> detect_faces(const dlib::frontal_face_detector& prototype,
                                                const dlib::shape_predictor& predictor, const dlib::matrix<unsigned char>& gray,
                                                double scale, bool best_only) {
  dlib::frontal_face_detector detector = prototype;
  std::vector<dlib::rect_detection> found;
  detector(gray, found);
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return a.detection_confidence > b.detection_confidence; });
  if (best_only && found.size() > 1) found.resize(1);
  std::vector<DlibFaceFinder::Found> out;
  for (const auto& f : found) {
    const auto& r = f.rect;
    DlibFaceFinder::Found face;
    face.box = FaceBox{static_cast<float>(r.left() / scale), static_cast<float>(r.top() / scale),
                       static_cast<float>(r.width() / scale), static_cast<float>(r.height() / scale),
                       static_cast<float>(f.detection_confidence)};
    face.landmarks = parts_of(predictor(gray, r), scale);
    out.push_back(std::move(face));
  }
  return out;
}

// The grey image the detector scans: doubled `upsample` times (`scale`: 2^upsample).
dlib::matrix<unsigned char> scan_image(const cv::Mat& rgb8, int upsample, double* scale) {
  dlib::matrix<unsigned char> gray = to_gray(rgb8);
  *scale = 1.0;
  for (int i = 0; i < upsample; ++i) {
    dlib::pyramid_up(gray);
    *scale *= 2.0;
  }
  return gray;
}

}  // namespace

std::optional<DlibFaceFinder::Found> DlibFaceFinder::find(const cv::Mat& rgb8, int upsample) const {
  double scale = 1;
  const auto gray = scan_image(rgb8, upsample >= 0 ? upsample : impl_->upsample, &scale);
  auto found = detect_faces(impl_->detector, impl_->predictor, gray, scale, true);
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
}

std::vector<DlibFaceFinder::Found> DlibFaceFinder::find_all(const cv::Mat& rgb8, int upsample) const {
  double scale = 1;
  const auto gray = scan_image(rgb8, upsample >= 0 ? upsample : impl_->upsample, &scale);
  return detect_faces(impl_->detector, impl_->predictor, gray, scale, false);
}

std::vector<cv::Point2f> DlibFaceFinder::landmarks(const cv::Mat& rgb8, const FaceBox& box) const {
  const dlib::matrix<unsigned char> gray = to_gray(rgb8);
  const dlib::rectangle rect(std::lround(box.x), std::lround(box.y), std::lround(box.x + box.width) - 1,
                             std::lround(box.y + box.height) - 1);
  return parts_of(impl_->predictor(gray, rect), 1.0);
}

}  // namespace toonreid
