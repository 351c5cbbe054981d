// Faces first: finds the face in a photo or caricature, its landmarks, and cuts the
// aligned chip the face network expects (chip_geometry.h). A documented fallback chain:
//
//   user   landmarks a user supplied (WebCaricature FacialPoints/, manifest column)
//   ssd    face-api's SSD MobileNet v1 + its 68-point landmark net (default first path)
//   dlib   dlib's HOG frontal detector + 68-point shape predictor
//   letterbox / center_crop   nothing found: the whole image letterboxed, or a centre crop
//
// Every result records the path that produced it and that path's score.
#pragma once

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
enum class FacePath { User, Ssd, Dlib, Letterbox, CenterCrop, Whole };
const char* face_path_name(FacePath p);  // "user", "ssd", "dlib", "letterbox", "center_crop", "whole"

struct FaceOptions {
  std::vector<std::string> detectors = {"ssd", "dlib"};  // tried in order
  std::string fallback = "letterbox";                    // letterbox | center_crop
  double center_crop_fraction = 0.8;                     // side of the centre crop / shorter image side
  float min_confidence = 0.5f;                           // SSD face score
  std::string ssd_landmarks = "faceapi";                 // faceapi | dlib: landmarks inside an SSD box
  int dlib_upsample = 1;                                 // HOG detector: image doublings before scanning
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
  FaceOptions options_;
  std::unique_ptr<SsdMobilenetV1> ssd_;
  std::unique_ptr<FaceLandmarkNet68> landmark_net_;
  std::unique_ptr<DlibFaceFinder> dlib_;
};

}  // namespace toonreid
