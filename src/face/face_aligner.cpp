#include "face/face_aligner.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/config.h"
#include "core/error.h"
#include "face/dlib_detector.h"
#include "face/landmark_net.h"
#include "model/faceapi_weights.h"

namespace toonreid {

const char* face_path_name(FacePath p) {
  switch (p) {
    case FacePath::User: return "user";
    case FacePath::Ssd: return "ssd";
    case FacePath::Dlib: return "dlib";
    case FacePath::Letterbox: return "letterbox";
    case FacePath::CenterCrop: return "center_crop";
    case FacePath::Whole: return "whole";
  }
  return "?";
}

void add_face_options(ConfigSchema& schema) {
  schema.describe_section("face",
                          "Face detection, landmarks and alignment (input.align, toonreid align): a chain of detectors "
                          "tried in order, then a fallback; chips in dlib's geometry.");
  schema.add_string_list("face.detectors", {"ssd", "dlib"},
                         "Detectors tried in order: ssd (face-api's SSD MobileNet v1 + 68-point net), dlib (HOG + "
                         "shape predictor)")
      .one_of({"ssd", "dlib"});
  schema.add_string("face.fallback", "letterbox", "When no detector finds a face: the whole image letterboxed, or a centre crop")
      .one_of({"letterbox", "center_crop"});
  schema.add_float("face.center_crop_fraction", 0.8, "Centre-crop fallback: side of the crop / the image's shorter side")
      .greater_than(0).max(1);
  schema.add_float("face.min_confidence", 0.5, "SSD: lowest face score accepted (face-api's default 0.5)").greater_than(0).max(1);
  schema.add_string("face.ssd_landmarks", "faceapi", "Landmarks inside an SSD box: face-api's 68-point net or dlib's predictor")
      .one_of({"faceapi", "dlib"});
  schema.add_int("face.dlib_upsample", 1, "dlib HOG detector: times the image is doubled before scanning (finds faces < 80 px)")
      .range(0, 3);
  schema.add_bool("face.user_landmarks", true,
                  "Use landmarks the data set supplies (WebCaricature FacialPoints/, a manifest's landmarks column) "
                  "instead of detection");
  schema.add_int("face.chip_size", 150, "Side of the aligned chip in pixels (dlib's face network: 150)").range(16, 1024);
  schema.add_float("face.padding", 0.25, "Chip padding around dlib's mean face, per side, as a fraction of its size (dlib: 0.25)")
      .range(0, 2);
  schema.add_string("face.weights_dir", "", "Folder of face-api's weight files (empty: .cache/weights/face-api from make deps)");
  schema.add_string("face.dlib_predictor", "", "dlib's 68-point shape predictor (empty: libdlib-data's file)");
  schema.add_string("face.cache_dir", ".cache/faces",
                    "input.align: where aligned chips are cached, keyed by image content and these settings");
}

FaceOptions face_options(const Config& c) {
  FaceOptions o;
  o.detectors = c.get_string_list("face.detectors");
  o.fallback = c.get_string("face.fallback");
  o.center_crop_fraction = c.get_float("face.center_crop_fraction");
  o.min_confidence = static_cast<float>(c.get_float("face.min_confidence"));
  o.ssd_landmarks = c.get_string("face.ssd_landmarks");
  o.dlib_upsample = static_cast<int>(c.get_int("face.dlib_upsample"));
  o.use_user_landmarks = c.get_bool("face.user_landmarks");
  o.chip.size = static_cast<int>(c.get_int("face.chip_size"));
  o.chip.padding = c.get_float("face.padding");
  o.weights_dir = c.get_string("face.weights_dir");
  o.dlib_predictor = c.get_string("face.dlib_predictor");
  return o;
}

std::string FaceOptions::fingerprint() const {
  std::ostringstream s;
  s << "v1 detectors=";
  for (const auto& d : detectors) s << d << ',';
  s << " fallback=" << fallback << " crop=" << center_crop_fraction << " conf=" << min_confidence
    << " ssd_landmarks=" << ssd_landmarks << " upsample=" << dlib_upsample << " user=" << use_user_landmarks
    << " size=" << chip.size << " padding=" << chip.padding;
  return s.str();
}

FaceAligner::FaceAligner(FaceOptions options) : options_(std::move(options)) {
  if (options_.fallback != "letterbox" && options_.fallback != "center_crop")
    throw ConfigError("face.fallback = \"" + options_.fallback + "\": expected letterbox or center_crop");
  const std::filesystem::path weights = options_.weights_dir.empty() ? default_faceapi_folder() : options_.weights_dir;
  const bool want_ssd = std::count(options_.detectors.begin(), options_.detectors.end(), "ssd") > 0;
  const bool want_dlib = std::count(options_.detectors.begin(), options_.detectors.end(), "dlib") > 0;
  for (const auto& d : options_.detectors)
    if (d != "ssd" && d != "dlib") throw ConfigError("face.detectors: unknown detector '" + d + "' (expected ssd or dlib)");
  if (want_ssd) {
    ssd_ = std::make_unique<SsdMobilenetV1>(weights);
    if (options_.ssd_landmarks == "faceapi") landmark_net_ = std::make_unique<FaceLandmarkNet68>(weights);
  }
  if (want_dlib || (want_ssd && options_.ssd_landmarks == "dlib"))
    dlib_ = std::make_unique<DlibFaceFinder>(
        options_.dlib_predictor.empty() ? default_dlib_predictor() : options_.dlib_predictor, options_.dlib_upsample);
}

FaceAligner::~FaceAligner() = default;

AlignedFace FaceAligner::from_landmarks(const cv::Mat& rgb8, std::vector<cv::Point2f> landmarks, FacePath path,
                                        float score, const FaceBox& box) const {
  AlignedFace out;
  out.chip = extract_chip(rgb8, chip_transform(landmarks, options_.chip), options_.chip.size);
  out.path = path;
  out.score = score;
  out.box = box;
  out.landmarks = std::move(landmarks);
  return out;
}

AlignedFace FaceAligner::fallback(const cv::Mat& rgb8) const {
  AlignedFace out;
  const int size = options_.chip.size;
  if (options_.fallback == "center_crop") {
    const int side = std::max(1, static_cast<int>(std::lround(std::min(rgb8.cols, rgb8.rows) * options_.center_crop_fraction)));
    const cv::Rect crop((rgb8.cols - side) / 2, (rgb8.rows - side) / 2, side, side);
    cv::resize(rgb8(crop), out.chip, cv::Size(size, size), 0, 0, side > size ? cv::INTER_AREA : cv::INTER_LINEAR);
    out.path = FacePath::CenterCrop;
    out.box = FaceBox{float(crop.x), float(crop.y), float(side), float(side), 0};
    return out;
  }
  // Letterbox: the whole image, aspect kept, zero borders (as a chip's outside).
  const double scale = static_cast<double>(size) / std::max(rgb8.cols, rgb8.rows);
  const int w = std::max(1, static_cast<int>(std::lround(rgb8.cols * scale)));
  const int h = std::max(1, static_cast<int>(std::lround(rgb8.rows * scale)));
  cv::Mat scaled;
  cv::resize(rgb8, scaled, cv::Size(w, h), 0, 0, scale < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
  out.chip = cv::Mat(size, size, CV_8UC3, cv::Scalar::all(0));
  scaled.copyTo(out.chip(cv::Rect((size - w) / 2, (size - h) / 2, w, h)));
  out.path = FacePath::Letterbox;
  out.box = FaceBox{0, 0, float(rgb8.cols), float(rgb8.rows), 0};
  return out;
}

std::optional<AlignedFace> FaceAligner::from_ssd_box(const cv::Mat& rgb8, const FaceBox& f) const {
  // The crop face-api takes: the box floored and clipped to the image.
  const int x = std::max(0, static_cast<int>(std::floor(f.x))), y = std::max(0, static_cast<int>(std::floor(f.y)));
  const int w = std::min(static_cast<int>(std::floor(f.x + f.width)), rgb8.cols) - x;
  const int h = std::min(static_cast<int>(std::floor(f.y + f.height)), rgb8.rows) - y;
  if (w < 2 || h < 2) return std::nullopt;
  std::vector<cv::Point2f> landmarks;
  if (landmark_net_) {
    landmarks = landmark_net_->predict({rgb8(cv::Rect(x, y, w, h))}).front();
    for (auto& p : landmarks) p += cv::Point2f(static_cast<float>(x), static_cast<float>(y));
  } else {
    landmarks = dlib_->landmarks(rgb8, f);
  }
  return from_landmarks(rgb8, std::move(landmarks), FacePath::Ssd, f.score, f);
}

AlignedFace FaceAligner::align(const cv::Mat& rgb8, const std::vector<float>& user_landmarks) const {
  if (rgb8.empty() || rgb8.type() != CV_8UC3) throw DataError("align: expects a non-empty 8-bit RGB image");
  if (options_.use_user_landmarks && !user_landmarks.empty()) {
    std::vector<cv::Point2f> pts;
    for (std::size_t i = 0; i + 1 < user_landmarks.size(); i += 2) pts.emplace_back(user_landmarks[i], user_landmarks[i + 1]);
    cv::Rect2f bounds = cv::boundingRect(pts);
    return from_landmarks(rgb8, std::move(pts), FacePath::User, 1.0f, FaceBox{bounds.x, bounds.y, bounds.width, bounds.height, 1});
  }
  for (const std::string& detector : options_.detectors) {
    if (detector == "ssd") {
      const auto found = ssd_->detect({rgb8}, options_.min_confidence, 1);  // (kept: a range over .front() of a temporary dangles)
      for (const FaceBox& f : found.front())
        if (auto face = from_ssd_box(rgb8, f)) return std::move(*face);
      continue;
    }
    if (detector == "dlib") {
      auto found = dlib_->find(rgb8);
      if (!found) continue;
      return from_landmarks(rgb8, std::move(found->landmarks), FacePath::Dlib, found->box.score, found->box);
    }
  }
  return fallback(rgb8);
}

namespace {

float box_iou(const FaceBox& a, const FaceBox& b) {
  const float iw = std::max(0.0f, std::min(a.x + a.width, b.x + b.width) - std::max(a.x, b.x));
  const float ih = std::max(0.0f, std::min(a.y + a.height, b.y + b.height) - std::max(a.y, b.y));
  const float inter = iw * ih, uni = a.width * a.height + b.width * b.height - inter;
  return uni > 0 ? inter / uni : 0.0f;
}

}  // namespace

std::vector<AlignedFace> FaceAligner::align_all(const cv::Mat& rgb8) const { return std::move(align_all(std::vector<cv::Mat>{rgb8}).front()); }

std::vector<std::vector<AlignedFace>> FaceAligner::align_all(const std::vector<cv::Mat>& pictures) const {
  for (const auto& p : pictures)
    if (p.empty() || p.type() != CV_8UC3) throw DataError("align: expects non-empty 8-bit RGB images");
  std::vector<std::vector<AlignedFace>> all(pictures.size());
  std::vector<std::vector<FaceBox>> ssd_boxes;
  if (ssd_ && !pictures.empty()) ssd_boxes = ssd_->detect(pictures, options_.min_confidence);
  for (std::size_t i = 0; i < pictures.size(); ++i) {
    const cv::Mat& rgb8 = pictures[i];
    std::vector<AlignedFace>& faces = all[i];
    auto is_new = [&](const FaceBox& box) {
      for (const auto& f : faces)
        if (box_iou(f.box, box) > 0.3f) return false;
      return true;
    };
    for (const std::string& detector : options_.detectors) {
      if (detector == "ssd") {
        for (const FaceBox& f : ssd_boxes[i])
          if (is_new(f))
            if (auto face = from_ssd_box(rgb8, f)) faces.push_back(std::move(*face));
      } else if (detector == "dlib") {
        for (auto& found : dlib_->find_all(rgb8))
          if (is_new(found.box))
            faces.push_back(from_landmarks(rgb8, std::move(found.landmarks), FacePath::Dlib, found.box.score, found.box));
      }
    }
    std::stable_sort(faces.begin(), faces.end(), [](const AlignedFace& a, const AlignedFace& b) {
      return a.box.x + a.box.width / 2 < b.box.x + b.box.width / 2;
    });
  }
  return all;
}

}  // namespace toonreid
