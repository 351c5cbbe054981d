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
  // Crop offset in the padded image, as a shift of the original: dx, dy in [-pad, pad].
  const int dx = static_cast<int>(rng.integer(0, 2 * padding_)) - padding_;
  const int dy = static_cast<int>(rng.integer(0, 2 * padding_)) - padding_;
  cv::Mat out(image.size(), image.type(), cv::Scalar::all(0));
  const cv::Rect src_rect = cv::Rect(dx, dy, image.cols, image.rows) & cv::Rect(0, 0, image.cols, image.rows);
  if (src_rect.area() > 0)
    image(src_rect).copyTo(out(cv::Rect(src_rect.x - dx, src_rect.y - dy, src_rect.width, src_rect.height)));
  return out;
}

std::string PadRandomCrop::describe() const { return "PadRandomCrop(pad=" + std::to_string(padding_) + ")"; }

void normalize_to_chw(const cv::Mat& rgb8, const std::vector<double>& mean, const std::vector<double>& std,
                      float* chw) {
  if (rgb8.type() != CV_8UC3) throw Error("normalisation expects an 8-bit RGB image");
  // One fused pass: out = x * a + b with a = 1/(255 std), b = -mean/std, HWC -> CHW.
  float a[3], b[3];
  for (int c = 0; c < 3; ++c) {
    a[c] = static_cast<float>(1.0 / (255.0 * std[c]));
    b[c] = static_cast<float>(-mean[c] / std[c]);
  }
  const std::size_t plane = rgb8.total();
  float* r = chw;
  float* g = chw + plane;
  float* bl = chw + 2 * plane;
  for (int y = 0; y < rgb8.rows; ++y) {
    const std::uint8_t* src = rgb8.ptr<std::uint8_t>(y);
    const std::size_t row = static_cast<std::size_t>(y) * rgb8.cols;
    for (int x = 0; x < rgb8.cols; ++x) {
      r[row + x] = src[3 * x] * a[0] + b[0];
      g[row + x] = src[3 * x + 1] * a[1] + b[1];
      bl[row + x] = src[3 * x + 2] * a[2] + b[2];
    }
  }
}

RandomErasing::RandomErasing(double prob, double area_min, double area_max, double aspect_min, double aspect_max,
                             ErasingFill fill)
    : prob_(prob), area_min_(area_min), area_max_(area_max), aspect_min_(aspect_min), aspect_max_(aspect_max),
      fill_(fill) {
  if (area_min > area_max || aspect_min > aspect_max || aspect_min <= 0)
    throw Error("RandomErasing: ranges must be [low, high] with low <= high and aspect > 0");
}

void RandomErasing::apply(float* chw, int height, int width, Rng& rng) const {
  if (!rng.chance(prob_)) return;
  const double area = static_cast<double>(height) * width;
  const std::size_t plane = static_cast<std::size_t>(height) * width;
  // As in the paper: retry a few times until the rectangle fits inside the image.
  for (int attempt = 0; attempt < 100; ++attempt) {
    double target = rng.uniform(area_min_, area_max_) * area;
    double aspect = std::exp(rng.uniform(std::log(aspect_min_), std::log(aspect_max_)));
    int h = static_cast<int>(std::lround(std::sqrt(target * aspect)));
    int w = static_cast<int>(std::lround(std::sqrt(target / aspect)));
    if (w <= 0 || h <= 0 || w >= width || h >= height) continue;
    int x0 = static_cast<int>(rng.integer(0, width - w));
    int y0 = static_cast<int>(rng.integer(0, height - h));
    for (int c = 0; c < 3; ++c)
      for (int y = y0; y < y0 + h; ++y) {
        float* p = chw + c * plane + static_cast<std::size_t>(y) * width + x0;
        if (fill_ == ErasingFill::Mean) std::fill(p, p + w, 0.0f);
        else
          for (int i = 0; i < w; ++i) p[i] = static_cast<float>(rng.normal());
      }
    break;
  }
}

std::string RandomErasing::describe() const {
  std::ostringstream s;
  s << "RandomErasing(p=" << prob_ << ", area=[" << area_min_ << "," << area_max_ << "], aspect=[" << aspect_min_
    << "," << aspect_max_ << "], fill=" << (fill_ == ErasingFill::Mean ? "mean" : "random") << ")";
  return s.str();
}

TransformPipeline::TransformPipeline(int height, int width, std::vector<double> mean, std::vector<double> std)
    : height_(height), width_(width), mean_(std::move(mean)), std_(std::move(std)) {
  if (height <= 0 || width <= 0) throw Error("transform pipeline: output size must be positive");
  if (mean_.size() != 3 || std_.size() != 3) throw Error("transform pipeline: mean and std need 3 values");
}

cv::Mat TransformPipeline::run_image_steps(const cv::Mat& rgb8, Rng& rng) const {
  cv::Mat x = rgb8;
  for (const auto& t : image_steps_) x = t->apply(x, rng);
  if (x.rows != height_ || x.cols != width_ || x.type() != CV_8UC3)
    throw Error("transform pipeline: the image steps must end at " + std::to_string(height_) + "x" +
                std::to_string(width_) + " RGB (is a Resize missing?)");
  return x;
}

void TransformPipeline::run(const cv::Mat& rgb8, Rng& rng, float* chw) const {
  normalize_to_chw(run_image_steps(rgb8, rng), mean_, std_, chw);
  for (const auto& t : tensor_steps_) t->apply(chw, height_, width_, rng);
}

std::vector<float> TransformPipeline::run(const cv::Mat& rgb8, Rng& rng) const {
  std::vector<float> out(3 * static_cast<std::size_t>(height_) * width_);
  run(rgb8, rng, out.data());
  return out;
}

std::string TransformPipeline::describe() const {
  std::string s;
  for (const auto& t : image_steps_) s += (s.empty() ? "" : " -> ") + t->describe();
  std::ostringstream n;
  n << "Normalize(mean=[" << mean_[0] << "," << mean_[1] << "," << mean_[2] << "], std=[" << std_[0] << ","
    << std_[1] << "," << std_[2] << "])";
  s += (s.empty() ? "" : " -> ") + n.str();
  for (const auto& t : tensor_steps_) s += " -> " + t->describe();
  return s;
}

void add_input_options(ConfigSchema& schema) {
  schema.describe_section("input", "Image size, normalisation and training augmentation.");
  schema.add_int_list("input.size", {320, 320}, "Network input [height, width] in pixels").size(2).range(16, 4096);
  schema.add_int("input.max_pixels", 40'000'000,
                 "Largest image accepted, in pixels (from its header, before decoding: larger JPEGs are decoded at "
                 "a reduced scale when that fits, larger PNGs refused); 0: no limit")
      .min(0);
  schema.add_bool("input.align", false,
                  "Detect, landmark and align every face first (the face section's chain; chips cached on disk), "
                  "for train, extract, eval, mine and pipeline");
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

  TransformPipeline p(static_cast<int>(size[0]), static_cast<int>(size[1]), mean, std);
  // Letterbox bars take the mean colour, so after normalisation they are zero.
  cv::Scalar fill(std::lround(mean[0] * 255), std::lround(mean[1] * 255), std::lround(mean[2] * 255));
  ResizeMode mode = config.get_string("input.resize") == "letterbox" ? ResizeMode::Letterbox : ResizeMode::Stretch;
  p.add(std::make_unique<Resize>(p.height(), p.width(), mode, fill));
  if (train) {
    if (double f = config.get_float("input.flip_prob"); f > 0) p.add(std::make_unique<RandomHorizontalFlip>(f));
    if (long long pad = config.get_int("input.padding"); pad > 0)
      p.add(std::make_unique<PadRandomCrop>(static_cast<int>(pad)));
  }
  if (train) {
    if (double e = config.get_float("input.erasing.prob"); e > 0)
      p.add(std::make_unique<RandomErasing>(
          e, area[0], area[1], aspect[0], aspect[1],
          config.get_string("input.erasing.fill") == "random" ? ErasingFill::Random : ErasingFill::Mean));
  }
  return p;
}

}  // namespace toonreid
