// Image transforms for training and evaluation, each configurable from the `input`
// section of the config. Train: resize -> random flip -> pad + random crop ->
// normalise -> random erasing. Test: resize -> normalise.
//
// A pipeline maps an 8-bit RGB cv::Mat to a normalised float image in CHW order,
// written straight into the caller's buffer (a slot of the batch tensor): no per-image
// float temporaries, which matters because large fresh allocations cost page faults.
// All randomness comes from the Rng passed in, so a sample's augmentation depends only
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

// Acts on 8-bit RGB images (geometry, flips).
class ImageTransform {
 public:
  virtual ~ImageTransform() = default;
  virtual cv::Mat apply(const cv::Mat& image, Rng& rng) const = 0;
  virtual std::string describe() const = 0;
};

// Acts in place on a normalised float image in CHW order.
class TensorTransform {
 public:
  virtual ~TensorTransform() = default;
  virtual void apply(float* chw, int height, int width, Rng& rng) const = 0;
  virtual std::string describe() const = 0;
};

enum class ResizeMode { Stretch, Letterbox };

// Resizes to height x width. Letterbox keeps the aspect ratio and pads with `fill`.
class Resize : public ImageTransform {
 public:
  Resize(int height, int width, ResizeMode mode = ResizeMode::Stretch, cv::Scalar fill = {0, 0, 0});
  cv::Mat apply(const cv::Mat& image, Rng& rng) const override;
  std::string describe() const override;

 private:
  int height_, width_;
  ResizeMode mode_;
  cv::Scalar fill_;
};

class RandomHorizontalFlip : public ImageTransform {
 public:
  explicit RandomHorizontalFlip(double prob) : prob_(prob) {}
  cv::Mat apply(const cv::Mat& image, Rng& rng) const override;
  std::string describe() const override;

 private:
  double prob_;
};

// Zero-pads each side by `padding` pixels, then crops the original size at a random
// offset (done as one shifted copy, without building the padded image).
class PadRandomCrop : public ImageTransform {
 public:
  explicit PadRandomCrop(int padding) : padding_(padding) {}
  cv::Mat apply(const cv::Mat& image, Rng& rng) const override;
  std::string describe() const override;

 private:
  int padding_;
};

// Random erasing (Zhong et al. 2017) on a normalised image: with probability `prob`,
// a rectangle covering an area fraction in [area_min, area_max] with aspect ratio in
// [aspect_min, aspect_max] (log-uniform) is filled with the mean (0 after
// normalisation) or with N(0, 1) noise.
enum class ErasingFill { Mean, Random };

class RandomErasing : public TensorTransform {
 public:
  RandomErasing(double prob, double area_min, double area_max, double aspect_min, double aspect_max,
                ErasingFill fill);
  void apply(float* chw, int height, int width, Rng& rng) const override;
  std::string describe() const override;

 private:
  double prob_, area_min_, area_max_, aspect_min_, aspect_max_;
  ErasingFill fill_;
};

// Writes ((x / 255) - mean) / std of an 8-bit RGB image into `chw` (3 planes).
void normalize_to_chw(const cv::Mat& rgb8, const std::vector<double>& mean, const std::vector<double>& std,
                      float* chw);

class TransformPipeline {
 public:
  TransformPipeline(int height, int width, std::vector<double> mean, std::vector<double> std);
  void add(std::shared_ptr<const ImageTransform> t) { image_steps_.push_back(std::move(t)); }
  void add(std::shared_ptr<const TensorTransform> t) { tensor_steps_.push_back(std::move(t)); }

  // Runs every step; `chw` receives 3 * height * width floats.
  void run(const cv::Mat& rgb8, Rng& rng, float* chw) const;
  std::vector<float> run(const cv::Mat& rgb8, Rng& rng) const;
  // The 8-bit image after the geometric steps (for previews and tests).
  cv::Mat run_image_steps(const cv::Mat& rgb8, Rng& rng) const;

  std::string describe() const;
  std::size_t size() const { return image_steps_.size() + 1 + tensor_steps_.size(); }
  // Output size: the resize target, also used to decode JPEGs at a reduced scale.
  int height() const { return height_; }
  int width() const { return width_; }

 private:
  int height_, width_;
  std::vector<double> mean_, std_;
  // Steps are immutable and shared, so pipelines copy cheaply and run on any thread.
  std::vector<std::shared_ptr<const ImageTransform>> image_steps_;
  std::vector<std::shared_ptr<const TensorTransform>> tensor_steps_;
};

// Declares the `input` section's options.
void add_input_options(ConfigSchema& schema);
// Builds the train (augmenting) or test pipeline from the `input` section.
TransformPipeline make_transforms(const Config& config, bool train);

}  // namespace toonreid
