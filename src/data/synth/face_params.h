// Parameters of a synthetic toon face: what makes an identity (FaceParams), what
// changes from one picture of that identity to the next (Expression, Pose), and the
// caricature exaggeration of an identity's deviation from the mean face.
#pragma once

#include <array>
#include <cstdint>

#include <opencv2/core/types.hpp>

#include "core/random.h"

namespace toonreid::synth {

// Continuous face geometry, in units of the face's half-width/half-height or the image
// size (see face_shapes.cpp). Stored as an array so that exaggeration and the mean face
// treat every dimension alike.
enum Geometry : int {
  kFaceWidth,      // half-width / image size
  kFaceHeight,     // half-height / image size
  kSquareness,     // superellipse exponent: 2 round .. 4 square
  kJawTaper,       // narrowing towards the chin: 0 none .. 0.6 pointed
  kEyeHeight,      // eye line above the face centre / half-height
  kEyeSpacing,     // eye centre offset / half-width
  kEyeWidth,       // eye half-width / half-width
  kEyeRoundness,   // eye half-height / eye half-width
  kBrowGap,        // brow above eye / half-height
  kBrowTilt,       // inner end lower (>0, stern) or higher (<0, worried) / half-height
  kBrowThickness,  // stroke width / image size
  kBrowLength,     // brow half-length / half-width
  kNoseLength,     // nose tip below face centre / half-height
  kNoseWidth,      // nose half-width / half-width
  kMouthHeight,    // mouth line below face centre / half-height
  kMouthWidth,     // mouth half-width / half-width
  kLipThickness,   // lower lip / half-height
  kEarSize,        // relative ear size
  kHairline,       // forehead height: hairline below the top of the face / half-height
  kHairVolume,     // hair thickness beyond the skull / half-width
  kGeometryCount
};

struct GeometryRange {
  double lo, hi;
};
// Valid range of each dimension; the mean face is the middle of each range.
const std::array<GeometryRange, kGeometryCount>& geometry_ranges();

enum class HairStyle : int { Buzz, Short, Long, Spiky, Curly, SideSwept, Bald, Bun, kCount };
enum class Glasses : int { None, Round, Rectangular };
enum class FacialHair : int { None, Moustache, Goatee, Full };

struct FaceParams {
  std::array<double, kGeometryCount> geometry{};
  HairStyle hair_style = HairStyle::Short;
  int fringe_side = 1;  // side-swept: +1 or -1
  Glasses glasses = Glasses::None;
  FacialHair facial_hair = FacialHair::None;
  cv::Vec3d skin, hair, iris, lips, glasses_colour;  // RGB in [0, 255]
  bool mole = false;
  cv::Point2d mole_position;  // relative to the face centre, in half-width/half-height units

  double operator[](Geometry g) const { return geometry[static_cast<std::size_t>(g)]; }
};

// Draws a random identity.
FaceParams sample_identity(Rng& rng);

// Caricature: moves every geometry dimension away from the mean by factor (1 + amount),
// clipped to a widened valid range.
FaceParams exaggerate(const FaceParams& face, double amount);

// Per-picture variation.
struct Expression {
  double smile = 0;       // -0.4 (frown) .. 1 (broad smile)
  double mouth_open = 0;  // 0 .. 0.5
  double eye_open = 1;    // 0.55 .. 1.15
  double brow_raise = 0;  // -0.05 .. 0.1 of the half-height
};
Expression sample_expression(Rng& rng);

struct Pose {
  double angle_deg = 0;  // in-plane rotation
  double scale = 1;
  cv::Point2d shift;     // in fractions of the image size
};
Pose sample_pose(Rng& rng, double strength);

}  // namespace toonreid::synth
