#include "data/transforms.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "core/config.h"
#include "core/error.h"

namespace toonreid {

Resize::Resize(int height, int width, ResizeMode mode, cv::Scalar fill)
    : height_(height), width_(width), mode_(mode), fill_(fill) {
  if (height <= 0 || width <= 0) throw Error("Resize: size must be positive");
}

cv::Mat Resize::apply(const cv::Mat& image, Rng&) const {
  if (image.rows == height_ && image.cols == width_) return image;
  // Area interpolation when shrinking avoids aliasing; linear when enlarging.
  auto interp = [](double scale) { return scale < 1.0 ? cv::INTER_AREA : cv::INTER_LINEAR; };
  cv::Mat out;
  if (mode_ == ResizeMode::Stretch) {
    double scale = std::min(static_cast<double>(width_) / image.cols, static_cast<double>(height_) / image.rows);
    cv::resize(image, out, cv::Size(width_, height_), 0, 0, interp(scale));
    return out;
  }
  double scale = std::min(static_cast<double>(width_) / image.cols, static_cast<double>(height_) / image.rows);
  int w = std::max(1, static_cast<int>(std::lround(image.cols * scale)));
  int h = std::max(1, static_cast<int>(std::lround(image.rows * scale)));
  cv::Mat scaled;
  cv::resize(image, scaled, cv::Size(w, h), 0, 0, interp(scale));
  out = cv::Mat(height_, width_, image.type(), fill_);
  scaled.copyTo(out(cv::Rect((width_ - w) / 2, (height_ - h) / 2, w, h)));
  return out;
}

std::string Resize::describe() const {
  return "Resize(" + std::to_string(height_) + "x" + std::to_string(width_) +
         (mode_ == ResizeMode::Stretch ? ", stretch)" : ", letterbox)");
}

cv::Mat RandomHorizontalFlip::apply(const cv::Mat& image, Rng& rng) const {
  if (!rng.chance(prob_)) return image;
  cv::Mat out;
  cv::flip(image, out, 1);
  return out;
}

std::string RandomHorizontalFlip::describe() const { return "RandomHorizontalFlip(p=" + std::to_string(prob_) + ")"; }

cv::Mat PadRandomCrop::apply(const cv::Mat& image, Rng& rng) const {
  if (padding_ <= 0) return image;
  cv::Mat padded;
  cv::copyMakeBorder(image, padded, padding_, padding_, padding_, padding_, cv::BORDER_CONSTANT, cv::Scalar::all(0));
  int x = static_cast<int>(rng.integer(0, 2 * padding_));
  int y = static_cast<int>(rng.integer(0, 2 * padding_));
  return padded(cv::Rect(x, y, image.cols, image.rows)).clone();
}

std::string PadRandomCrop::describe() const { return "PadRandomCrop(pad=" + std::to_string(padding_) + ")"; }

Normalize::Normalize(std::vector<double> mean, std::vector<double> std) : mean_(std::move(mean)), std_(std::move(std)) {
  if (mean_.size() != 3 || std_.size() != 3) throw Error("Normalize: mean and std need 3 values");
}

cv::Mat Normalize::apply(const cv::Mat& image, Rng&) const {
  if (image.type() != CV_8UC3) throw Error("Normalize expects an 8-bit RGB image");
  // One fused pass: out = x * a + b with a = 1/(255 std), b = -mean/std.
  cv::Mat out(image.rows, image.cols, CV_32FC3);
  float a[3], b[3];
  for (int c = 0; c < 3; ++c) {
    a[c] = static_cast<float>(1.0 / (255.0 * std_[c]));
    b[c] = static_cast<float>(-mean_[c] / std_[c]);
  }
  for (int y = 0; y < image.rows; ++y) {
    const std::uint8_t* src = image.ptr<std::uint8_t>(y);
    float* dst = out.ptr<float>(y);
    for (int x = 0; x < image.cols * 3; x += 3)
      for (int c = 0; c < 3; ++c) dst[x + c] = src[x + c] * a[c] + b[c];
  }
  return out;
}

std::string Normalize::describe() const {
  std::ostringstream s;
  s << "Normalize(mean=[" << mean_[0] << "," << mean_[1] << "," << mean_[2] << "], std=[" << std_[0] << ","
    << std_[1] << "," << std_[2] << "])";
  return s.str();
}

RandomErasing::RandomErasing(double prob, double area_min, double area_max, double aspect_min, double aspect_max,
                             ErasingFill fill)
    : prob_(prob), area_min_(area_min), area_max_(area_max), aspect_min_(aspect_min), aspect_max_(aspect_max),
      fill_(fill) {
  if (area_min > area_max || aspect_min > aspect_max || aspect_min <= 0)
    throw Error("RandomErasing: ranges must be [low, high] with low <= high and aspect > 0");
}

cv::Mat RandomErasing::apply(const cv::Mat& image, Rng& rng) const {
  if (!rng.chance(prob_)) return image;
  cv::Mat out = image.clone();
  const double area = static_cast<double>(image.rows) * image.cols;
  // As in the paper: retry a few times until the rectangle fits inside the image.
  for (int attempt = 0; attempt < 100; ++attempt) {
    double target = rng.uniform(area_min_, area_max_) * area;
    double aspect = std::exp(rng.uniform(std::log(aspect_min_), std::log(aspect_max_)));
    int h = static_cast<int>(std::lround(std::sqrt(target * aspect)));
    int w = static_cast<int>(std::lround(std::sqrt(target / aspect)));
    if (w <= 0 || h <= 0 || w >= image.cols || h >= image.rows) continue;
    int x = static_cast<int>(rng.integer(0, image.cols - w));
    int y = static_cast<int>(rng.integer(0, image.rows - h));
    cv::Mat roi = out(cv::Rect(x, y, w, h));
    if (fill_ == ErasingFill::Mean) {
      roi.setTo(cv::Scalar::all(0));
    } else {
      for (int r = 0; r < h; ++r) {
        float* p = roi.ptr<float>(r);
        for (int i = 0; i < w * roi.channels(); ++i) p[i] = static_cast<float>(rng.normal());
      }
    }
    break;
  }
  return out;
}

std::string RandomErasing::describe() const {
  std::ostringstream s;
  s << "RandomErasing(p=" << prob_ << ", area=[" << area_min_ << "," << area_max_ << "], aspect=[" << aspect_min_
    << "," << aspect_max_ << "], fill=" << (fill_ == ErasingFill::Mean ? "mean" : "random") << ")";
  return s.str();
}

cv::Mat TransformPipeline::operator()(const cv::Mat& rgb8, Rng& rng) const {
  cv::Mat x = rgb8;
  for (const auto& t : steps_) x = t->apply(x, rng);
  return x;
}

std::string TransformPipeline::describe() const {
  std::string s;
  for (const auto& t : steps_) s += (s.empty() ? "" : " -> ") + t->describe();
  return s;
}

void add_input_options(ConfigSchema& schema) {
  schema.describe_section("input", "Image size, normalisation and training augmentation.");
  schema.add_int_list("input.size", {320, 320}, "Network input [height, width] in pixels").size(2).range(16, 4096);
  schema.add_string("input.resize", "stretch", "How images reach input.size: stretch, or letterbox (keep aspect, pad)")
      .one_of({"stretch", "letterbox"});
  schema.add_float_list("input.mean", {0.485, 0.456, 0.406},
                        "Per-channel RGB mean in [0, 1] subtracted before the network (ImageNet's by default)")
      .size(3).range(0, 1);
  schema.add_float_list("input.std", {0.229, 0.224, 0.225}, "Per-channel RGB standard deviation in [0, 1]")
      .size(3).greater_than(0).max(1);
  schema.add_float("input.flip_prob", 0.5, "Training: probability of a horizontal flip").range(0, 1);
  schema.add_int("input.padding", 10, "Training: zero padding before the random crop (0 disables it)").range(0, 512);
  schema.add_float("input.erasing.prob", 0.5, "Training: probability of random erasing (0 disables it)").range(0, 1);
  schema.add_float_list("input.erasing.area", {0.02, 0.4}, "Training: erased area fraction [min, max]")
      .size(2).greater_than(0).max(1);
  schema.add_float_list("input.erasing.aspect", {0.3, 3.33}, "Training: erased rectangle aspect ratio [min, max]")
      .size(2).greater_than(0).max(100);
  schema.add_string("input.erasing.fill", "mean", "Training: erased pixels become the mean pixel, or random noise")
      .one_of({"mean", "random"});
}

TransformPipeline make_transforms(const Config& config, bool train) {
  const auto& size = config.get_int_list("input.size");
  const auto& mean = config.get_float_list("input.mean");
  const auto& std = config.get_float_list("input.std");
  const auto& area = config.get_float_list("input.erasing.area");
  const auto& aspect = config.get_float_list("input.erasing.aspect");
  if (area[0] > area[1]) throw ConfigError(config.describe("input.erasing.area") + ": min must not exceed max");
  if (aspect[0] > aspect[1]) throw ConfigError(config.describe("input.erasing.aspect") + ": min must not exceed max");

  TransformPipeline p;
  p.height = static_cast<int>(size[0]);
  p.width = static_cast<int>(size[1]);
  // Letterbox bars take the mean colour, so after normalisation they are zero.
  cv::Scalar fill(std::lround(mean[0] * 255), std::lround(mean[1] * 255), std::lround(mean[2] * 255));
  ResizeMode mode = config.get_string("input.resize") == "letterbox" ? ResizeMode::Letterbox : ResizeMode::Stretch;
  p.add(std::make_unique<Resize>(p.height, p.width, mode, fill));
  if (train) {
    if (double f = config.get_float("input.flip_prob"); f > 0) p.add(std::make_unique<RandomHorizontalFlip>(f));
    if (long long pad = config.get_int("input.padding"); pad > 0)
      p.add(std::make_unique<PadRandomCrop>(static_cast<int>(pad)));
  }
  p.add(std::make_unique<Normalize>(mean, std));
  if (train) {
    if (double e = config.get_float("input.erasing.prob"); e > 0)
      p.add(std::make_unique<RandomErasing>(
          e, area[0], area[1], aspect[0], aspect[1],
          config.get_string("input.erasing.fill") == "random" ? ErasingFill::Random : ErasingFill::Mean));
  }
  return p;
}

}  // namespace toonreid
