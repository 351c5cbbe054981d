// The second path of the face chain: dlib's HOG frontal face detector and its 68-point
// shape predictor (Debian's libdlib-dev and libdlib-data; the predictor was trained on
// iBUG 300-W, whose licence excludes commercial use). Faster on CPU than the SSD but
// blind to many caricatures and to faces turned far from frontal.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include <opencv2/core/mat.hpp>
#include <opencv2/core/types.hpp>

#include "face/ssd_mobilenet.h"

namespace toonreid {

// Where libdlib-data installs the predictor.
std::filesystem::path default_dlib_predictor();

class DlibFaceFinder {
 public:
  // Throws Error naming the file when the predictor cannot be read.
  explicit DlibFaceFinder(const std::filesystem::path& predictor, int upsample = 1);
  ~DlibFaceFinder();
  DlibFaceFinder(const DlibFaceFinder&) = delete;
  DlibFaceFinder& operator=(const DlibFaceFinder&) = delete;

  struct Found {
    FaceBox box;                         // score: the HOG detector's margin
    std::vector<cv::Point2f> landmarks;  // 68 iBUG points
  };
  // The highest-scoring face of an 8-bit RGB image, if any. Thread-safe: each call
  // uses its own copy of the detector. `upsample` >= 0 replaces the constructor's
  // doublings for this call (the chain's dlib_up path).
  std::optional<Found> find(const cv::Mat& rgb8, int upsample = -1) const;
  // Every face the detector finds, best first.
  std::vector<Found> find_all(const cv::Mat& rgb8, int upsample = -1) const;
  // The 68 landmarks inside a given face box (used for boxes found by another detector).
  std::vector<cv::Point2f> landmarks(const cv::Mat& rgb8, const FaceBox& box) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace toonreid
