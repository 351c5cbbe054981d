// Turns face parameters and an expression into a list of drawable shapes, back to
// front, in the pixel coordinates of a size x size canvas. Renderers (photo, cartoon)
// decide how each shape looks; the geometry is shared, which is what makes a photo
// and a cartoon of one identity the same person.
#pragma once

#include <vector>

#include <opencv2/core/types.hpp>

#include "data/synth/face_params.h"

namespace toonreid::synth {

// What a shape depicts; renderers colour and shade by part.
enum class Part { HairBack, Clothes, Neck, Ear, Skin, FacialHair, Nostril, NoseLine, Lips, MouthInside, Teeth,
                  Sclera, Iris, Pupil, Eyelid, Brow, Mole, HairFront, GlassesFrame };

struct Shape {
  Part part;
  std::vector<cv::Point2d> points;
  cv::Vec3d colour;    // natural RGB colour
  bool filled = true;  // false: an open or closed stroke of width `width`
  bool closed = true;
  double width = 0;    // stroke width in pixels (strokes) or outline weight factor (fills)
};

struct FaceLayout {
  cv::Point2d centre;  // face centre
  double half_width = 0, half_height = 0;
  std::vector<Shape> shapes;
};

FaceLayout build_face(const FaceParams& face, const Expression& expression, int size,
                      const cv::Vec3d& clothes_colour);

}  // namespace toonreid::synth
