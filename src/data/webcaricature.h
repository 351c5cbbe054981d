// Reads the WebCaricature folder layout (also used by the CaVI copy in ../shared):
//
//   <root>/images/<Identity>/P*.jpg     photos       (or <root>/OriginalImages/...)
//   <root>/images/<Identity>/C*.jpg     caricatures
//   <root>/splits/<split>.txt           one identity per line (train.txt, test.txt, ...)
//
// Only the folder listing is read: images are decoded later, lazily.
#pragma once

#include <filesystem>

#include "data/dataset.h"

namespace toonreid {

// Throws DataError when the root or its image folder is missing, when a split file
// names an unknown identity or an identity twice, or when no image is found. Empty
// identity folders, identities in no split and nested folders become warnings.
Dataset load_webcaricature(const std::filesystem::path& root);

// The image folder of a WebCaricature root ("images" or "OriginalImages").
std::filesystem::path webcaricature_image_dir(const std::filesystem::path& root);

// True for file names the layout treats as images (by extension, case-insensitive),
// including formats toonreid cannot decode, so that they are reported, not ignored.
bool looks_like_image(const std::filesystem::path& file);

}  // namespace toonreid
