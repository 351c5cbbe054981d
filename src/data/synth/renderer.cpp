#include "data/synth/renderer.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "data/synth/face_shapes.h"

namespace toonreid::synth {

namespace {

constexpr int kShift = 4;  // sub-pixel bits for OpenCV drawing
constexpr double kOne = 1 << kShift;

std::vector<cv::Point> fixed_point(const std::vector<cv::Point2d>& pts) {
  std::vector<cv::Point> out;
  out.reserve(pts.size());
  for (const auto& p : pts) out.emplace_back(static_cast<int>(std::lround(p.x * kOne)), static_cast<int>(std::lround(p.y * kOne)));
  return out;
}

cv::Scalar rgb(const cv::Vec3d& c) { return cv::Scalar(c[0], c[1], c[2]); }

void fill(cv::Mat& canvas, const std::vector<cv::Point2d>& pts, const cv::Scalar& colour) {
  auto p = fixed_point(pts);
  const cv::Point* data = p.data();
  int n = static_cast<int>(p.size());
  cv::fillPoly(canvas, &data, &n, 1, colour, cv::LINE_AA, kShift);
}

void stroke(cv::Mat& canvas, const std::vector<cv::Point2d>& pts, bool closed, const cv::Scalar& colour, double width) {
  auto p = fixed_point(pts);
  const cv::Point* data = p.data();
  int n = static_cast<int>(p.size());
  cv::polylines(canvas, &data, &n, 1, closed, colour, std::max(1, static_cast<int>(std::lround(width))), cv::LINE_AA,
                kShift);
}

cv::Vec3d clamp_colour(cv::Vec3d c) {
  for (int i = 0; i < 3; ++i) c[i] = std::clamp(c[i], 0.0, 255.0);
  return c;
}

// Saturation and brightness adjustment around the grey of the colour.
cv::Vec3d saturate(const cv::Vec3d& c, double sat, double bright) {
  double grey = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
  cv::Vec3d out;
  for (int i = 0; i < 3; ++i) out[i] = (grey + sat * (c[i] - grey)) * bright;
  return clamp_colour(out);
}

cv::Vec3d posterize(const cv::Vec3d& c, int levels) {
  cv::Vec3d out;
  for (int i = 0; i < 3; ++i) out[i] = std::round(c[i] / 255.0 * (levels - 1)) * 255.0 / (levels - 1);
  return out;
}

cv::Vec3d random_colour(Rng& rng, double lo, double hi) {
  return {rng.uniform(lo, hi), rng.uniform(lo, hi), rng.uniform(lo, hi)};
}

// Rotates/scales/shifts the RGBA face layer about the image centre.
cv::Mat warp_layer(const cv::Mat& layer, const Pose& pose, int size) {
  cv::Mat m = cv::getRotationMatrix2D(cv::Point2f(size * 0.5f, size * 0.5f), pose.angle_deg, pose.scale);
  m.at<double>(0, 2) += pose.shift.x * size;
  m.at<double>(1, 2) += pose.shift.y * size;
  cv::Mat out;
  cv::warpAffine(layer, out, m, layer.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar::all(0));
  return out;
}

// Composites an RGBA float layer over an RGB float background. The layer's colour is
// premultiplied by its alpha: anti-aliased drawing onto black, blurring and warping all
// keep it so.
void composite(cv::Mat& background, const cv::Mat& layer) {
  for (int y = 0; y < background.rows; ++y) {
    cv::Vec3f* bg = background.ptr<cv::Vec3f>(y);
    const cv::Vec4f* fg = layer.ptr<cv::Vec4f>(y);
    for (int x = 0; x < background.cols; ++x) {
      float a = fg[x][3];
      for (int c = 0; c < 3; ++c) bg[x][c] = bg[x][c] * (1 - a) + fg[x][c];
    }
  }
}

// Draws every shape onto an RGBA float layer; `colour_of` chooses each shape's colour,
// outline > 0 draws dark outlines of that many pixels around filled shapes.
template <class ColourOf>
cv::Mat draw_layer(const FaceLayout& layout, int size, ColourOf colour_of, double outline, const cv::Vec3d& line_colour,
                   double stroke_scale) {
  cv::Mat colour(size, size, CV_8UC3, cv::Scalar::all(0));
  cv::Mat alpha(size, size, CV_8UC1, cv::Scalar::all(0));
  for (const auto& s : layout.shapes) {
    cv::Scalar c = rgb(colour_of(s));
    if (s.filled) {
      fill(colour, s.points, c);
      fill(alpha, s.points, cv::Scalar(255));
      bool outlined = outline > 0 && s.part != Part::Teeth && s.part != Part::Pupil && s.part != Part::Nostril;
      if (outlined) {
        double w = (s.part == Part::Iris || s.part == Part::Mole) ? std::max(1.0, 0.5 * outline) : outline;
        stroke(colour, s.points, s.closed, rgb(line_colour), w);
        stroke(alpha, s.points, s.closed, cv::Scalar(255), w);
      }
    } else {
      double w = s.width * stroke_scale;
      stroke(colour, s.points, s.closed, c, w);
      stroke(alpha, s.points, s.closed, cv::Scalar(255), w);
    }
  }
  cv::Mat colour_f, alpha_f, layer;
  colour.convertTo(colour_f, CV_32FC3);
  alpha.convertTo(alpha_f, CV_32FC1, 1.0 / 255);
  std::vector<cv::Mat> channels;
  cv::split(colour_f, channels);
  channels.push_back(alpha_f);
  cv::merge(channels, layer);
  return layer;
}

// Multiplies the layer's colours by Lambertian shading of a sphere around the face;
// `levels` > 0 quantises the shading (cel shading).
void shade(cv::Mat& layer, const FaceLayout& layout, cv::Vec3d light, double ambient, int levels) {
  light /= cv::norm(light);
  const double r = 1.35 * std::max(layout.half_width, layout.half_height);
  for (int y = 0; y < layer.rows; ++y) {
    cv::Vec4f* p = layer.ptr<cv::Vec4f>(y);
    for (int x = 0; x < layer.cols; ++x) {
      double nx = (x - layout.centre.x) / r, ny = (y - layout.centre.y) / r;
      double d2 = nx * nx + ny * ny;
      double nz = d2 < 1 ? std::sqrt(1 - d2) : 0.0;
      if (d2 >= 1) nx /= std::sqrt(d2), ny /= std::sqrt(d2);
      double lambert = std::max(0.0, nx * light[0] + ny * light[1] + nz * light[2]);
      if (levels > 0) lambert = lambert > 0.45 ? 1.0 : 0.45;
      double k = ambient + (1 - ambient) * lambert;
      for (int c = 0; c < 3; ++c) p[x][c] = static_cast<float>(p[x][c] * k);
    }
  }
}

cv::Mat photo_background(int size, Rng& rng) {
  cv::Mat bg(size, size, CV_8UC3);
  cv::Vec3d a = random_colour(rng, 40, 220), b = random_colour(rng, 40, 220);
  const bool vertical = rng.chance(0.5);
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      double t = (vertical ? y : x) / static_cast<double>(size);
      cv::Vec3d c = a * (1 - t) + b * t;
      bg.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>(c[0]), static_cast<uchar>(c[1]), static_cast<uchar>(c[2]));
    }
  // Clutter: furniture, windows, plants, other heads out of focus.
  const int objects = static_cast<int>(rng.integer(3, 9));
  for (int i = 0; i < objects; ++i) {
    cv::Scalar c = rgb(random_colour(rng, 20, 235));
    cv::Point p0(static_cast<int>(rng.integer(0, size)), static_cast<int>(rng.integer(0, size)));
    int w = static_cast<int>(rng.integer(size / 10, size / 2)), h = static_cast<int>(rng.integer(size / 10, size / 2));
    switch (rng.integer(0, 2)) {
      case 0: cv::rectangle(bg, cv::Rect(p0.x - w / 2, p0.y - h / 2, w, h), c, cv::FILLED, cv::LINE_AA); break;
      case 1: cv::circle(bg, p0, w / 2, c, cv::FILLED, cv::LINE_AA); break;
      default:
        cv::line(bg, p0, cv::Point(p0.x + w, p0.y + h - w), c, std::max(1, size / 40), cv::LINE_AA);
    }
  }
  cv::GaussianBlur(bg, bg, cv::Size(0, 0), rng.uniform(1.0, 3.0));
  return bg;
}

cv::Vec3d clothes_colour(Rng& rng) { return random_colour(rng, 15, 230); }

// Gaussian noise from our own seeded generator: OpenCV's randn would draw from its
// process-wide RNG and break reproducibility.
void add_noise(cv::Mat& m, double sigma, Rng& rng) {
  cv::RNG cv_rng(rng.engine()());
  cv_rng.fill(m, cv::RNG::NORMAL, cv::Scalar::all(0), cv::Scalar::all(sigma));
}

cv::Mat to_u8(const cv::Mat& f) {
  cv::Mat out;
  f.convertTo(out, CV_8UC3);  // saturating
  return out;
}

}  // namespace

const char* style_name(CartoonStyle s) {
  switch (s) {
    case CartoonStyle::Flat: return "flat";
    case CartoonStyle::Cel: return "cel";
    case CartoonStyle::Pop: return "pop";
    case CartoonStyle::Sketch: return "sketch";
    case CartoonStyle::kCount: break;
  }
  return "?";
}

cv::Mat render_photo(const FaceParams& face, int size, Rng& rng) {
  const Expression e = sample_expression(rng);
  const FaceLayout layout = build_face(face, e, size, clothes_colour(rng));
  // Natural colours with a little per-picture variation (make-up, tan, lighting colour).
  const double tint = rng.uniform(0.92, 1.08);
  cv::Mat layer = draw_layer(
      layout, size,
      [&](const Shape& s) {
        cv::Vec3d c = s.colour;
        if (s.part == Part::Skin || s.part == Part::Ear || s.part == Part::Neck) c = c * tint;
        return clamp_colour(c);
      },
      0.0, {0, 0, 0}, 0.8);
  // Soft edges: real faces have no crisp outlines.
  cv::GaussianBlur(layer, layer, cv::Size(0, 0), 0.5 + 0.004 * size);
  cv::Vec3d light(rng.uniform(-0.8, 0.8), rng.uniform(-0.7, 0.3), rng.uniform(0.6, 1.2));
  shade(layer, layout, light, rng.uniform(0.4, 0.65), 0);

  // Skin texture: fine noise plus low-frequency blotches, inside the layer only.
  cv::Mat noise(size, size, CV_32FC3), blotch_small(std::max(2, size / 16), std::max(2, size / 16), CV_32FC3),
      blotch;
  add_noise(noise, rng.uniform(3, 9), rng);
  add_noise(blotch_small, rng.uniform(2, 7), rng);
  cv::resize(blotch_small, blotch, cv::Size(size, size), 0, 0, cv::INTER_CUBIC);
  for (int y = 0; y < size; ++y) {
    cv::Vec4f* p = layer.ptr<cv::Vec4f>(y);
    const cv::Vec3f* n = noise.ptr<cv::Vec3f>(y);
    const cv::Vec3f* b = blotch.ptr<cv::Vec3f>(y);
    for (int x = 0; x < size; ++x)
      for (int c = 0; c < 3; ++c) p[x][c] += p[x][3] * (n[x][c] + b[x][c]);
  }

  layer = warp_layer(layer, sample_pose(rng, 1.0), size);
  cv::Mat canvas;
  photo_background(size, rng).convertTo(canvas, CV_32FC3);
  composite(canvas, layer);

  // Camera: white balance, exposure, defocus, sensor noise.
  cv::Vec3f gain(static_cast<float>(rng.uniform(0.88, 1.12)), static_cast<float>(rng.uniform(0.9, 1.1)),
                 static_cast<float>(rng.uniform(0.88, 1.12)));
  const float exposure = static_cast<float>(rng.uniform(0.8, 1.2));
  canvas.forEach<cv::Vec3f>([&](cv::Vec3f& p, const int*) {
    for (int c = 0; c < 3; ++c) p[c] *= gain[c] * exposure;
  });
  cv::GaussianBlur(canvas, canvas, cv::Size(0, 0), rng.uniform(0.3, 1.3));
  cv::Mat sensor(size, size, CV_32FC3);
  add_noise(sensor, rng.uniform(1, 5), rng);
  canvas += sensor;
  return to_u8(canvas);
}

cv::Mat render_cartoon(const FaceParams& face, int size, CartoonStyle style, double exaggeration, Rng& rng) {
  const FaceParams drawn = exaggerate(face, exaggeration);
  Expression e = sample_expression(rng);
  e.smile = std::clamp(e.smile * 1.3, -0.5, 1.2);  // cartoons overact
  const FaceLayout layout = build_face(drawn, e, size, clothes_colour(rng));

  const double unit = size / 128.0;
  double outline = 0, stroke_scale = 1.0, sat = 1.0, bright = 1.0;
  cv::Vec3d line_colour(15, 12, 12);
  cv::Mat background(size, size, CV_8UC3);
  switch (style) {
    case CartoonStyle::Flat:
      outline = rng.uniform(1.2, 2.2) * unit;
      sat = rng.uniform(1.1, 1.35);
      bright = rng.uniform(1.0, 1.1);
      background.setTo(rgb(random_colour(rng, 150, 250)));
      break;
    case CartoonStyle::Cel:
      outline = rng.uniform(1.0, 1.8) * unit;
      sat = rng.uniform(1.0, 1.25);
      line_colour = {60, 35, 25};
      background.setTo(rgb(random_colour(rng, 170, 250)));
      break;
    case CartoonStyle::Pop:
      outline = rng.uniform(2.4, 3.6) * unit;
      sat = rng.uniform(1.5, 2.0);
      bright = rng.uniform(1.0, 1.15);
      stroke_scale = 1.4;
      background.setTo(rgb(posterize(random_colour(rng, 0, 255), 3)));
      break;
    case CartoonStyle::Sketch:
    default: {
      outline = rng.uniform(0.9, 1.5) * unit;
      const double paper = rng.uniform(225, 250);
      background.setTo(cv::Scalar(paper, paper * 0.98, paper * 0.93));
      line_colour = cv::Vec3d::all(rng.uniform(30, 90));
      break;
    }
  }

  auto colour_of = [&](const Shape& s) -> cv::Vec3d {
    cv::Vec3d c = s.colour;
    if (style == CartoonStyle::Sketch) {
      // Pencil drawing: paper-white fills, grey tones only for dark parts.
      double grey = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
      bool dark_part = s.part == Part::HairFront || s.part == Part::HairBack || s.part == Part::FacialHair ||
                       s.part == Part::Brow || s.part == Part::Pupil || s.part == Part::Iris ||
                       s.part == Part::Eyelid || s.part == Part::GlassesFrame || s.part == Part::Mole;
      double v = dark_part ? 60 + 0.6 * grey : 245;
      if (!s.filled) v = std::min(v, line_colour[0] + 20);
      return cv::Vec3d::all(v);
    }
    c = saturate(c, sat, bright);
    if (style == CartoonStyle::Pop) c = posterize(c, 4);
    return c;
  };
  cv::Mat layer = draw_layer(layout, size, colour_of, outline, line_colour, stroke_scale);
  if (style == CartoonStyle::Cel) {
    cv::Vec3d light(rng.uniform(-0.9, 0.9), rng.uniform(-0.6, 0.2), 0.8);
    shade(layer, layout, light, 0.78, 2);
  }
  if (style == CartoonStyle::Sketch) {
    // Hatching over the hair region gives pencil texture.
    cv::Mat hatch(size, size, CV_8UC1, cv::Scalar(0));
    const int step = std::max(2, static_cast<int>(3 * unit));
    for (int k = -size; k < size; k += step)
      cv::line(hatch, cv::Point(k, 0), cv::Point(k + size, size), cv::Scalar(255), 1, cv::LINE_AA);
    for (int y = 0; y < size; ++y) {
      cv::Vec4f* p = layer.ptr<cv::Vec4f>(y);
      const uchar* h = hatch.ptr<uchar>(y);
      for (int x = 0; x < size; ++x)
        if (p[x][0] < 200 && h[x]) p[x][0] = p[x][1] = p[x][2] = p[x][0] * 0.7f;
    }
  }
  layer = warp_layer(layer, sample_pose(rng, 0.7), size);
  cv::Mat canvas;
  background.convertTo(canvas, CV_32FC3);
  composite(canvas, layer);
  if (style == CartoonStyle::Sketch) {
    cv::Mat grain(size, size, CV_32FC3);
    add_noise(grain, 4, rng);
    canvas += grain;
  }
  return to_u8(canvas);
}

}  // namespace toonreid::synth
