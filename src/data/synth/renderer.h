// Renders a face as a photo (shaded, textured, cluttered, blurred) or as a cartoon in
// one of several art styles (flat colours, dark outlines, sketch, pop-art, cel).
#pragma once

#include <string>

#include <opencv2/core/mat.hpp>

#include "core/random.h"
#include "data/synth/face_params.h"

namespace toonreid::synth {

enum class CartoonStyle : int { Flat, Cel, Pop, Sketch, kCount };
const char* style_name(CartoonStyle s);

// 8-bit RGB, size x size. All randomness (lighting, clutter, noise) is drawn from rng.
cv::Mat render_photo(const FaceParams& face, int size, Rng& rng);

// exaggeration: caricature strength (0 = the identity's own proportions).
cv::Mat render_cartoon(const FaceParams& face, int size, CartoonStyle style, double exaggeration, Rng& rng);

}  // namespace toonreid::synth
