#include "data/synth/face_params.h"

#include <algorithm>

namespace toonreid::synth {

const std::array<GeometryRange, kGeometryCount>& geometry_ranges() {
  static const std::array<GeometryRange, kGeometryCount> ranges = {{
      {0.20, 0.28},    // kFaceWidth
      {0.26, 0.34},    // kFaceHeight
      {2.0, 3.6},      // kSquareness
      {0.0, 0.55},     // kJawTaper
      {0.02, 0.24},    // kEyeHeight
      {0.32, 0.52},    // kEyeSpacing
      {0.14, 0.24},    // kEyeWidth
      {0.38, 0.75},    // kEyeRoundness
      {0.12, 0.24},    // kBrowGap
      {-0.06, 0.07},   // kBrowTilt
      {0.008, 0.030},  // kBrowThickness
      {0.16, 0.28},    // kBrowLength
      {0.14, 0.36},    // kNoseLength
      {0.09, 0.22},    // kNoseWidth
      {0.46, 0.66},    // kMouthHeight
      {0.22, 0.44},    // kMouthWidth
      {0.04, 0.10},    // kLipThickness
      {0.7, 1.3},      // kEarSize
      {0.18, 0.48},    // kHairline
      {0.04, 0.22},    // kHairVolume
  }};
  return ranges;
}

namespace {

cv::Vec3d jitter(const cv::Vec3d& c, double amount, Rng& rng) {
  cv::Vec3d out;
  for (int i = 0; i < 3; ++i) out[i] = std::clamp(c[i] + rng.normal(0, amount), 0.0, 255.0);
  return out;
}

template <std::size_t N>
cv::Vec3d pick(const cv::Vec3d (&palette)[N], Rng& rng) {
  return palette[static_cast<std::size_t>(rng.integer(0, static_cast<long long>(N) - 1))];
}

}  // namespace

FaceParams sample_identity(Rng& rng) {
  static const cv::Vec3d kSkin[] = {{255, 224, 196}, {241, 194, 160}, {224, 172, 130}, {198, 140, 100},
                                    {161, 110, 75},  {120, 78, 52},   {92, 58, 38},    {250, 210, 180}};
  static const cv::Vec3d kHair[] = {{25, 20, 20},   {60, 40, 28},    {95, 62, 38},    {150, 105, 60},
                                    {220, 185, 120}, {170, 70, 35},   {130, 130, 130}, {225, 225, 220},
                                    {40, 40, 110},   {150, 40, 110}};
  static const cv::Vec3d kIris[] = {{70, 45, 25}, {40, 90, 140}, {60, 110, 60}, {110, 90, 60}, {30, 25, 20}};
  static const cv::Vec3d kFrames[] = {{20, 20, 20}, {90, 55, 30}, {170, 170, 180}, {160, 30, 40}, {30, 60, 140}};

  FaceParams f;
  const auto& ranges = geometry_ranges();
  for (int g = 0; g < kGeometryCount; ++g) {
    // Triangular-ish distribution: most faces near the mean, some far out.
    double u = 0.5 * (rng.uniform() + rng.uniform());
    if (rng.chance(0.25)) u = rng.uniform();
    f.geometry[static_cast<std::size_t>(g)] = ranges[static_cast<std::size_t>(g)].lo +
                                              u * (ranges[static_cast<std::size_t>(g)].hi - ranges[static_cast<std::size_t>(g)].lo);
  }
  f.hair_style = static_cast<HairStyle>(rng.integer(0, static_cast<int>(HairStyle::kCount) - 1));
  f.fringe_side = rng.chance(0.5) ? 1 : -1;
  double g = rng.uniform();
  f.glasses = g < 0.75 ? Glasses::None : g < 0.88 ? Glasses::Round : Glasses::Rectangular;
  double h = rng.uniform();
  f.facial_hair = h < 0.72 ? FacialHair::None : h < 0.82 ? FacialHair::Moustache : h < 0.9 ? FacialHair::Goatee
                                                                                            : FacialHair::Full;
  f.skin = jitter(pick(kSkin, rng), 8, rng);
  f.hair = jitter(pick(kHair, rng), 10, rng);
  f.iris = jitter(pick(kIris, rng), 10, rng);
  f.glasses_colour = pick(kFrames, rng);
  // Lips: the skin tone, redder and darker.
  f.lips = cv::Vec3d(std::min(255.0, f.skin[0] * 0.85 + 25), f.skin[1] * 0.55, f.skin[2] * 0.55);
  f.mole = rng.chance(0.2);
  f.mole_position = {rng.uniform(-0.6, 0.6), rng.uniform(0.0, 0.5)};
  return f;
}

FaceParams exaggerate(const FaceParams& face, double amount) {
  FaceParams out = face;
  const auto& ranges = geometry_ranges();
  for (int g = 0; g < kGeometryCount; ++g) {
    const auto& r = ranges[static_cast<std::size_t>(g)];
    double mean = 0.5 * (r.lo + r.hi), span = r.hi - r.lo;
    double v = mean + (1.0 + amount) * (face.geometry[static_cast<std::size_t>(g)] - mean);
    // Allow caricatures beyond the photo range, but keep the drawing sane.
    out.geometry[static_cast<std::size_t>(g)] = std::clamp(v, r.lo - 0.5 * span, r.hi + 0.5 * span);
  }
  // Physical limits the widened range must not cross.
  out.geometry[kSquareness] = std::max(out.geometry[kSquareness], 1.6);
  out.geometry[kJawTaper] = std::clamp(out.geometry[kJawTaper], 0.0, 0.75);
  out.geometry[kBrowThickness] = std::max(out.geometry[kBrowThickness], 0.005);
  out.geometry[kHairVolume] = std::max(out.geometry[kHairVolume], 0.02);
  return out;
}

Expression sample_expression(Rng& rng) {
  Expression e;
  e.smile = rng.uniform(-0.4, 1.0);
  e.mouth_open = rng.chance(0.35) ? rng.uniform(0.05, 0.5) : 0.0;
  e.eye_open = rng.uniform(0.55, 1.15);
  e.brow_raise = rng.uniform(-0.05, 0.1);
  return e;
}

Pose sample_pose(Rng& rng, double strength) {
  Pose p;
  p.angle_deg = rng.normal(0, 5.0 * strength);
  p.scale = 1.0 + rng.uniform(-0.08, 0.08) * strength;
  p.shift = {rng.uniform(-0.04, 0.04) * strength, rng.uniform(-0.04, 0.04) * strength};
  return p;
}

}  // namespace toonreid::synth
