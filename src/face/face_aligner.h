// Faces first: finds the face in a photo or caricature, its landmarks, and cuts the
// aligned chip the face network expects (chip_geometry.h). A documented fallback chain:
//
//   user       landmarks a user supplied (WebCaricature FacialPoints/, manifest column)
//   ssd        face-api's SSD MobileNet v1 + its 68-point landmark net (default first path)
//   dlib       dlib's HOG frontal detector + 68-point shape predictor
//   dlib_up    the same detector on the image doubled face.dlib_upsample_more times
//              (score: HOG margin)
//   ssd_low    the SSD's boxes between face.low_confidence and face.min_confidence whose
//              68 landmarks fit the face shape (score: SSD probability)
//   landmarks  no detector: the 68-point net run on the whole image and centred crops
//              (face.landmark_crops); the candidate whose landmarks fit the face shape
//              best, if that fit is plausible (score: 1 - residual / face.max_shape_residual)
//   letterbox / center_crop   nothing found: the whole image letterboxed, or a centre crop
//
// The plausibility test (ssd_low, landmarks) is shape_fit_residual (chip_geometry.h): the
// RMS distance between the landmarks and dlib's mean face after the best similarity fit,
// at most face.max_shape_residual. The default chain is ssd, dlib; the others are chosen by
// face.detectors. Every result records the path that produced it and that path's score.
#pragma once

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core/mat.hpp>

#include "face/chip_geometry.h"
#include "face/ssd_mobilenet.h"

namespace toonreid {

class Config;
class ConfigSchema;
class DlibFaceFinder;
class FaceLandmarkNet68;

// Whole: the picture as it is, for models that take no aligned chips (input.align off).
enum class FacePath { User, Ssd, Dlib, Letterbox, CenterCrop, Whole, DlibUp, SsdLow, Landmarks };
// "user", "ssd", "dlib", "letterbox", "center_crop", "whole", "dlib_up", "ssd_low", "landmarks"
const char* face_path_name(FacePath p);

struct FaceOptions {
  std::vector<std::string> detectors = {"ssd", "dlib"};  // tried in order
  std::string fallback = "letterbox";                    // letterbox | center_crop
  double center_crop_fraction = 0.8;                     // side of the centre crop / shorter image side
  float min_confidence = 0.5f;                           // SSD face score
  std::string ssd_landmarks = "faceapi";                 // faceapi | dlib: landmarks inside an SSD box
  int dlib_upsample = 1;                                 // HOG detector: image doublings before scanning
  int dlib_upsample_more = 2;                            // dlib_up's doublings
  float low_confidence = 0.2f;                           // ssd_low's lowest SSD score
  double max_shape_residual = 0.05;                      // ssd_low / landmarks: plausibility bound
  std::vector<double> landmark_crops = {1.0, 0.85, 0.7}; // landmarks: centred square crops (fraction of the shorter side; 1: whole image; > 1: padded square, that many times the longer side)
  bool use_user_landmarks = true;
  ChipGeometry chip;
  std::filesystem::path weights_dir;      // face-api weights (empty: the `make deps` folder)
  std::filesystem::path dlib_predictor;   // empty: libdlib-data's file
  // Everything that changes a chip, as text: part of the cache key.
  std::string fingerprint() const;
};

// Declares the `face` section.
void add_face_options(ConfigSchema& schema);
FaceOptions face_options(const Config& config);

struct AlignedFace {
  cv::Mat chip;                         // chip.size x chip.size, 8-bit RGB
  FacePath path = FacePath::Letterbox;
  float score = 0;                      // detector score (SSD probability, HOG margin); 1 for user landmarks; 0 for fallbacks
  FaceBox box;                          // face box in the image (the whole image / crop for fallbacks)
  std::vector<cv::Point2f> landmarks;   // in image pixels; empty for fallbacks
};

class FaceAligner {
 public:
  // Loads the networks the chain names. Throws Error naming a missing weights file.
  explicit FaceAligner(FaceOptions options);
  ~FaceAligner();
  FaceAligner(const FaceAligner&) = delete;
  FaceAligner& operator=(const FaceAligner&) = delete;

  // Aligns one 8-bit RGB image. `user_landmarks` (x, y pairs) override detection when
  // non-empty and enabled. Thread-safe.
  AlignedFace align(const cv::Mat& rgb8, const std::vector<float>& user_landmarks = {}) const;

  // Every face in a picture (search and scan; data sets use align(), one face per
  // image): each detector of the chain gives all its faces above its threshold (SSD:
  // after its NMS); a face of a later detector that overlaps an earlier one's (IoU above
  // 0.3) is the same face and dropped. Ordered left to right by box centre. Empty when
  // no detector finds a face (the caller decides whether to fall back). Thread-safe.
  std::vector<AlignedFace> align_all(const cv::Mat& rgb8) const;
  // The same for several pictures at once: one SSD forward pass for all of them (what a
  // server batching concurrent requests wants), then each picture's other detectors.
  std::vector<std::vector<AlignedFace>> align_all(const std::vector<cv::Mat>& pictures) const;

  // The chip when no face is found: the whole image letterboxed, or a centre crop
  // (face.fallback).
  AlignedFace fallback(const cv::Mat& rgb8) const;

  const FaceOptions& options() const { return options_; }

 private:
  AlignedFace from_landmarks(const cv::Mat& rgb8, std::vector<cv::Point2f> landmarks, FacePath path, float score,
                             const FaceBox& box) const;
  // The aligned face in an SSD box (landmarks by the 68-point net or dlib), or nothing
  // when the box is degenerate.
  std::optional<AlignedFace> from_ssd_box(const cv::Mat& rgb8, const FaceBox& box) const;
  // ssd_low: the plausible faces among the SSD's low-confidence boxes, best first.
  std::vector<AlignedFace> low_confidence_faces(const cv::Mat& rgb8, const std::vector<FaceBox>& boxes) const;
  // landmarks: the best-fitting candidate crop, when plausible.
  std::optional<AlignedFace> landmarks_without_detector(const cv::Mat& rgb8) const;
  FaceOptions options_;
  bool uses_low_confidence_ = false;  // ssd_low in the chain: the SSD runs once, down to face.low_confidence
  float ssd_threshold() const {
    return uses_low_confidence_ ? std::min(options_.low_confidence, options_.min_confidence) : options_.min_confidence;
  }
  std::unique_ptr<SsdMobilenetV1> ssd_;
  std::unique_ptr<FaceLandmarkNet68> landmark_net_;
  std::unique_ptr<DlibFaceFinder> dlib_;
};

}  // namespace toonreid
