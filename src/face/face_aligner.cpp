#include "face/face_aligner.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "core/config.h"
#include "core/error.h"
#include "face/dlib_detector.h"
#include "face/landmark_net.h"
#include "model/faceapi_weights.h"
#include "model/graph_backbones.h"

namespace toonreid {

const char* face_path_name(FacePath p) {
  switch (p) {
    case FacePath::User: return "user";
    case FacePath::Ssd: return "ssd";
    case FacePath::Dlib: return "dlib";
    case FacePath::Letterbox: return "letterbox";
    case FacePath::CenterCrop: return "center_crop";
    case FacePath::Whole: return "whole";
    case FacePath::DlibUp: return "dlib_up";
    case FacePath::SsdLow: return "ssd_low";
    case FacePath::Landmarks: return "landmarks";
  }
  return "?";
}

void add_face_options(ConfigSchema& schema) {
  schema.describe_section("face",
                          "Face detection, landmarks and alignment (input.align, toonreid align): a chain of detectors "
                          "tried in order, then a fallback; chips in dlib's geometry.");
  schema.add_string_list("face.detectors", {"ssd", "dlib"},
                         "Paths tried in order: ssd (face-api's SSD MobileNet v1 + 68-point net), dlib (HOG + "
                         "shape predictor), dlib_up (HOG on the image doubled face.dlib_upsample_more times), ssd_low "
                         "(SSD boxes down to face.low_confidence whose landmarks fit a face), landmarks (the 68-point "
                         "net on the whole image and centred crops, kept when its landmarks fit a face)")
      .one_of({"ssd", "dlib", "dlib_up", "ssd_low", "landmarks"});
  schema.add_string("face.fallback", "letterbox", "When no detector finds a face: the whole image letterboxed, or a centre crop")
      .one_of({"letterbox", "center_crop"});
  schema.add_float("face.center_crop_fraction", 0.8, "Centre-crop fallback: side of the crop / the image's shorter side")
      .greater_than(0).max(1);
  schema.add_float("face.min_confidence", 0.5, "SSD: lowest face score accepted (face-api's default 0.5)").greater_than(0).max(1);
  schema.add_string("face.ssd_landmarks", "faceapi", "Landmarks inside an SSD box: face-api's 68-point net or dlib's predictor")
      .one_of({"faceapi", "dlib"});
  schema.add_int("face.dlib_upsample", 1, "dlib HOG detector: times the image is doubled before scanning (finds faces < 80 px)")
      .range(0, 3);
  schema.add_int("face.dlib_upsample_more", 2, "dlib_up path: times the image is doubled before the HOG scan").range(0, 4);
  schema.add_float("face.low_confidence", 0.2, "ssd_low path: lowest SSD face score considered").greater_than(0).max(1);
  schema.add_float("face.max_shape_residual", 0.05,
                   "ssd_low and landmarks paths: largest RMS distance (fraction of the face's size) between the "
                   "landmarks and dlib's mean face after a similarity fit")
      .greater_than(0)
      .max(1);
  schema.add_float_list("face.landmark_crops", {1.0, 0.85, 0.7},
                        "landmarks path: centred square crops tried, as fractions of the shorter image side (1: the "
                        "whole image; above 1: a square that many times the longer side, the image in its middle, "
                        "for pictures cropped inside the face)")
      .range(0.1, 2);
  schema.add_bool("face.user_landmarks", true,
                  "Use landmarks the data set supplies (WebCaricature FacialPoints/, a manifest's landmarks column) "
                  "instead of detection");
  schema.add_int("face.chip_size", 0,
                 "Side of the aligned chip in pixels (0: the backbone's own input, e.g. dlib_resnet 150, "
                 "mobilefacenet 112; 150 for other backbones)")
      .range(0, 1024);
  schema.add_float("face.padding", -1,
                   "Chip margin per side, as a fraction of the template's size (-1: the backbone's own; dlib 0.25, "
                   "mobilefacenet 0)")
      .range(-1, 2);
  schema.add_string("face.chip_template", "auto",
                    "Where the face goes in the chip: dlib (dlib's mean face), arcface (insightface's five points), "
                    "auto (the backbone's own)")
      .one_of({"auto", "dlib", "arcface"});
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
  o.dlib_upsample_more = static_cast<int>(c.get_int("face.dlib_upsample_more"));
  o.low_confidence = static_cast<float>(c.get_float("face.low_confidence"));
  o.max_shape_residual = c.get_float("face.max_shape_residual");
  o.landmark_crops = c.get_float_list("face.landmark_crops");
  if (o.landmark_crops.empty()) throw ConfigError(c.describe("face.landmark_crops") + ": needs at least one crop");
  o.use_user_landmarks = c.get_bool("face.user_landmarks");
  // The chip the backbone expects unless the config says otherwise.
  const std::optional<FaceNetworkInput> own = face_network_input(c.get_string("model.backbone"));
  const long long size = c.get_int("face.chip_size");
  if (size != 0 && size < 16) throw ConfigError(c.describe("face.chip_size") + ": expected 0 (auto) or 16..1024");
  o.chip.size = size != 0 ? static_cast<int>(size) : own ? own->size : 150;
  o.chip.padding = c.get_float("face.padding") >= 0 ? c.get_float("face.padding") : own ? own->chip_padding : 0.25;
  const std::string tmpl = c.get_string("face.chip_template");
  o.chip.template_name = tmpl != "auto" ? tmpl : own ? own->chip_template : "dlib";
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
  // (dlib's template keeps the text it always had, so that existing chip caches stay valid)
  if (chip.template_name != "dlib") s << " template=" << chip.template_name;
  const auto uses = [&](const char* d) { return std::count(detectors.begin(), detectors.end(), d) > 0; };
  if (uses("dlib_up")) s << " upsample_more=" << dlib_upsample_more;
  if (uses("ssd_low")) s << " low=" << low_confidence;
  if (uses("ssd_low") || uses("landmarks")) s << " residual=" << max_shape_residual;
  if (uses("landmarks")) {
    s << " crops=";
    for (double f : landmark_crops) s << f << ',';
  }
  return s.str();
}

FaceAligner::FaceAligner(FaceOptions options) : options_(std::move(options)) {
  if (options_.fallback != "letterbox" && options_.fallback != "center_crop")
    throw ConfigError("face.fallback = \"" + options_.fallback + "\": expected letterbox or center_crop");
  const std::filesystem::path weights = options_.weights_dir.empty() ? default_faceapi_folder() : options_.weights_dir;
  const auto uses = [&](const char* d) { return std::count(options_.detectors.begin(), options_.detectors.end(), d) > 0; };
  const bool want_ssd = uses("ssd") || uses("ssd_low");
  const bool want_dlib = uses("dlib") || uses("dlib_up");
  for (const auto& d : options_.detectors)
    if (d != "ssd" && d != "dlib" && d != "dlib_up" && d != "ssd_low" && d != "landmarks")
      throw ConfigError("face.detectors: unknown detector '" + d + "' (expected ssd, dlib, dlib_up, ssd_low or landmarks)");
  if (want_ssd) ssd_ = std::make_unique<SsdMobilenetV1>(weights);
  uses_low_confidence_ = uses("ssd_low");
  if ((want_ssd && options_.ssd_landmarks == "faceapi") || uses("landmarks"))
    landmark_net_ = std::make_unique<FaceLandmarkNet68>(weights);
  if (want_dlib || (want_ssd && options_.ssd_landmarks == "dlib"))  // one predictor serves dlib and dlib_up
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
  if (landmark_net_ && options_.ssd_landmarks == "faceapi") {
    landmarks = landmark_net_->predict({rgb8(cv::Rect(x, y, w, h))}).front();
    for (auto& p : landmarks) p += cv::Point2f(static_cast<float>(x), static_cast<float>(y));
  } else {
    landmarks = dlib_->landmarks(rgb8, f);
  }
  return from_landmarks(rgb8, std::move(landmarks), FacePath::Ssd, f.score, f);
}

namespace {

bool plausible(const std::vector<cv::Point2f>& landmarks, double max_residual, double* residual) {
  if (landmarks.size() != 68) return false;
  try {
    *residual = shape_fit_residual(landmarks);
  } catch (const DataError&) {
    return false;  // degenerate: all at one point
  }
  return std::isfinite(*residual) && *residual <= max_residual;
}

}  // namespace

std::vector<AlignedFace> FaceAligner::low_confidence_faces(const cv::Mat& rgb8, const std::vector<FaceBox>& boxes) const {
  std::vector<AlignedFace> out;
  for (const FaceBox& f : boxes) {
    if (f.score > options_.min_confidence) continue;  // the ssd path's
    auto face = from_ssd_box(rgb8, f);
    double residual = 0;
    if (!face || !plausible(face->landmarks, options_.max_shape_residual, &residual)) continue;
    face->path = FacePath::SsdLow;
    out.push_back(std::move(*face));
  }
  return out;
}

std::optional<AlignedFace> FaceAligner::landmarks_without_detector(const cv::Mat& rgb8) const {
  // Candidates: centred squares (the net pads a crop to a square itself). Fractions above 1
  // are squares larger than the image, the image in their middle on grey: a photo cropped
  // inside the face (forehead and chin cut off) then looks like the face boxes the net
  // was trained on.
  std::vector<cv::Rect> crops;
  std::vector<cv::Mat> views;
  for (double fraction : options_.landmark_crops) {
    cv::Rect r(0, 0, rgb8.cols, rgb8.rows);
    if (fraction > 1) {
      const int side = static_cast<int>(std::lround(std::max(rgb8.cols, rgb8.rows) * fraction));
      r = cv::Rect(-(side - rgb8.cols) / 2, -(side - rgb8.rows) / 2, side, side);
      cv::Mat padded(side, side, CV_8UC3, cv::Scalar(128, 128, 128));
      rgb8.copyTo(padded(cv::Rect(-r.x, -r.y, rgb8.cols, rgb8.rows)));
      crops.push_back(r);
      views.push_back(padded);
      continue;
    }
    if (fraction < 1) {
      const int side = std::max(2, static_cast<int>(std::lround(std::min(rgb8.cols, rgb8.rows) * fraction)));
      r = cv::Rect((rgb8.cols - side) / 2, (rgb8.rows - side) / 2, side, side);
    }
    crops.push_back(r);
    views.push_back(rgb8(r));
  }
  const auto predicted = landmark_net_->predict(views);
  double best = std::numeric_limits<double>::infinity();
  std::size_t chosen = crops.size();
  for (std::size_t i = 0; i < crops.size(); ++i) {
    std::vector<cv::Point2f> pts = predicted[i];
    for (auto& p : pts) p += cv::Point2f(static_cast<float>(crops[i].x), static_cast<float>(crops[i].y));
    double residual = 0;
    if (plausible(pts, options_.max_shape_residual, &residual) && residual < best) {
      best = residual;
      chosen = i;
    }
  }
  if (chosen == crops.size()) return std::nullopt;
  std::vector<cv::Point2f> pts = predicted[chosen];
  for (auto& p : pts) p += cv::Point2f(static_cast<float>(crops[chosen].x), static_cast<float>(crops[chosen].y));
  const cv::Rect2f bounds = cv::boundingRect(pts);
  const float score = static_cast<float>(1.0 - best / options_.max_shape_residual);
  return from_landmarks(rgb8, std::move(pts), FacePath::Landmarks, score,
                        FaceBox{bounds.x, bounds.y, bounds.width, bounds.height, score});
}

AlignedFace FaceAligner::align(const cv::Mat& rgb8, const std::vector<float>& user_landmarks) const {
  if (rgb8.empty() || rgb8.type() != CV_8UC3) throw DataError("align: expects a non-empty 8-bit RGB image");
  if (options_.use_user_landmarks && !user_landmarks.empty()) {
    std::vector<cv::Point2f> pts;
    for (std::size_t i = 0; i + 1 < user_landmarks.size(); i += 2) pts.emplace_back(user_landmarks[i], user_landmarks[i + 1]);
    cv::Rect2f bounds = cv::boundingRect(pts);
    return from_landmarks(rgb8, std::move(pts), FacePath::User, 1.0f, FaceBox{bounds.x, bounds.y, bounds.width, bounds.height, 1});
  }
  // One SSD pass serves ssd and ssd_low: the detector's NMS keeps the same boxes above
  // min_confidence whatever lower threshold it is run at (a box is only suppressed by a
  // better one).
  std::optional<std::vector<FaceBox>> ssd_boxes;
  const auto boxes = [&]() -> const std::vector<FaceBox>& {
    if (!ssd_boxes) ssd_boxes = uses_low_confidence_ ? ssd_->detect({rgb8}, ssd_threshold()).front()
                                                     : ssd_->detect({rgb8}, options_.min_confidence, 1).front();
    return *ssd_boxes;
  };
  for (const std::string& detector : options_.detectors) {
    if (detector == "ssd") {
      for (const FaceBox& f : boxes())
        if (f.score > options_.min_confidence)
          if (auto face = from_ssd_box(rgb8, f)) return std::move(*face);
      continue;
    }
    if (detector == "dlib" || detector == "dlib_up") {
      const bool up = detector == "dlib_up";
      auto found = dlib_->find(rgb8, up ? options_.dlib_upsample_more : -1);
      if (!found) continue;
      return from_landmarks(rgb8, std::move(found->landmarks), up ? FacePath::DlibUp : FacePath::Dlib, found->box.score,
                            found->box);
    }
    if (detector == "ssd_low") {
      auto faces = low_confidence_faces(rgb8, boxes());
      if (!faces.empty()) return std::move(faces.front());
      continue;
    }
    if (detector == "landmarks") {
      if (auto face = landmarks_without_detector(rgb8)) return std::move(*face);
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
  if (ssd_ && !pictures.empty())
    ssd_boxes = ssd_->detect(pictures, ssd_threshold());
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
          if (f.score > options_.min_confidence && is_new(f))
            if (auto face = from_ssd_box(rgb8, f)) faces.push_back(std::move(*face));
      } else if (detector == "dlib" || detector == "dlib_up") {
        const bool up = detector == "dlib_up";
        for (auto& found : dlib_->find_all(rgb8, up ? options_.dlib_upsample_more : -1))
          if (is_new(found.box))
            faces.push_back(from_landmarks(rgb8, std::move(found.landmarks), up ? FacePath::DlibUp : FacePath::Dlib,
                                           found.box.score, found.box));
      } else if (detector == "ssd_low") {
        for (auto& face : low_confidence_faces(rgb8, ssd_boxes[i]))
          if (is_new(face.box)) faces.push_back(std::move(face));
      } else if (detector == "landmarks" && faces.empty()) {
        // One face at most, and only where nothing else found one: the candidates are
        // centred crops, not a search.
        if (auto face = landmarks_without_detector(rgb8)) faces.push_back(std::move(*face));
      }
    }
    std::stable_sort(faces.begin(), faces.end(), [](const AlignedFace& a, const AlignedFace& b) {
      return a.box.x + a.box.width / 2 < b.box.x + b.box.width / 2;
    });
  }
  return all;
}

}  // namespace toonreid
