// Image transforms for training and evaluation, each configurable from the `input`
// section of the config. Train: resize -> random flip -> pad + random crop ->
// normalise -> random erasing. Test: resize -> normalise.
//
// A pipeline maps an 8-bit RGB cv::Mat to a normalised CV_32FC3 cv::Mat (HWC). All
// randomness comes from the Rng passed in, so a sample's augmentation depends only
// on its seed, not on which thread ran it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <opencv2/core/mat.hpp>

#include "core/random.h"

namespace toonreid {

class Config;
class ConfigSchema;

class Transform {
 public:
  virtual ~Transform() = default;
  virtual cv::Mat apply(const cv::Mat& image, Rng& rng) const = 0;
  virtual std::string describe() const = 0;
};

enum class ResizeMode { Stretch, Letterbox };

// Resizes to height x width. Letterbox keeps the aspect ratio and pads with `fill`.
class Resize : public Transform {
 public:
  Resize(int height, int width, ResizeMode mode = ResizeMode::Stretch, cv::Scalar fill = {0, 0, 0});
  cv::Mat apply(const cv::Mat& image, Rng& rng) const override;
  std::string describe() const override;

 private:
  int height_, width_;
  ResizeMode mode_;
  cv::Scalar fill_;
};

class RandomHorizontalFlip : public Transform {
 public:
  explicit RandomHorizontalFlip(double prob) : prob_(prob) {}
  cv::Mat apply(const cv::Mat& image, Rng& rng) const override;
  std::string describe() const override;

 private:
  double prob_;
};

// Zero-pads each side by `padding` pixels, then crops the original size at a random offset.
class PadRandomCrop : public Transform {
 public:
  explicit PadRandomCrop(int padding) : padding_(padding) {}
  cv::Mat apply(const cv::Mat& image, Rng& rng) const override;
  std::string describe() const override;

 private:
  int padding_;
};

// uint8 RGB -> float ((x / 255) - mean) / std per channel.
class Normalize : public Transform {
 public:
  Normalize(std::vector<double> mean, std::vector<double> std);
  cv::Mat apply(const cv::Mat& image, Rng& rng) const override;
  std::string describe() const override;

 private:
  std::vector<double> mean_, std_;
};

enum class ErasingFill { Mean, Random };

// Random erasing (Zhong et al. 2017) on a normalised image: with probability `prob`,
// a rectangle covering an area fraction in [area_min, area_max] with aspect ratio in
// [aspect_min, aspect_max] (log-uniform) is filled with the mean (0 after
// normalisation) or with N(0, 1) noise.
class RandomErasing : public Transform {
 public:
  RandomErasing(double prob, double area_min, double area_max, double aspect_min, double aspect_max,
                ErasingFill fill);
  cv::Mat apply(const cv::Mat& image, Rng& rng) const override;
  std::string describe() const override;

 private:
  double prob_, area_min_, area_max_, aspect_min_, aspect_max_;
  ErasingFill fill_;
};

class TransformPipeline {
 public:
  void add(std::unique_ptr<Transform> t) { steps_.push_back(std::move(t)); }
  cv::Mat operator()(const cv::Mat& rgb8, Rng& rng) const;
  std::string describe() const;
  std::size_t size() const { return steps_.size(); }
  // Output height/width (the resize target), used to decode JPEGs at a reduced scale.
  int height = 0;
  int width = 0;

 private:
  std::vector<std::unique_ptr<Transform>> steps_;
};

// Declares the `input` section's options.
void add_input_options(ConfigSchema& schema);
// Builds the train (augmenting) or test pipeline from the `input` section.
TransformPipeline make_transforms(const Config& config, bool train);

}  // namespace toonreid
