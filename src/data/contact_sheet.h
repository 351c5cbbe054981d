// A picture of a data set at a glance: one row per identity, its photos then its
// cartoons, each resized into a square cell.
#pragma once

#include <opencv2/core/mat.hpp>

#include "data/dataset.h"

namespace toonreid {

struct ContactSheetOptions {
  int identities = 8;  // rows
  int per_domain = 4;  // photos and cartoons per row
  int cell = 96;       // cell side in pixels
};

// 8-bit RGB image; identities are taken in data-set order.
cv::Mat make_contact_sheet(const Dataset& data, const ContactSheetOptions& options);

}  // namespace toonreid
