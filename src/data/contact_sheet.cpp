#include "data/contact_sheet.h"

#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "data/image_io.h"
#include "data/transforms.h"  // Resize

namespace toonreid {

cv::Mat make_contact_sheet(const Dataset& data, const ContactSheetOptions& o) {
  if (o.identities < 1 || o.per_domain < 1 || o.cell < 8) throw Error("contact sheet: sizes must be positive");
  auto ids = data.identities();
  const int rows = std::min<int>(o.identities, static_cast<int>(ids.size()));
  const int gap = 4;
  const int cols = 2 * o.per_domain;
  cv::Mat sheet(rows * (o.cell + gap) + gap, cols * (o.cell + gap) + 3 * gap, CV_8UC3, cv::Scalar(40, 40, 40));
  ImageDecoder decoder;
  Resize fit(o.cell, o.cell, ResizeMode::Letterbox, cv::Scalar(40, 40, 40));
  Rng unused(0);
  for (int r = 0; r < rows; ++r) {
    int photo_col = 0, cartoon_col = 0;
    for (const auto& rec : data.records()) {
      if (rec.identity != ids[static_cast<std::size_t>(r)]) continue;
      int& col = rec.domain == Domain::Photo ? photo_col : cartoon_col;
      if (col >= o.per_domain) continue;
      const int c = (rec.domain == Domain::Photo ? 0 : o.per_domain) + col++;
      cv::Mat img = fit.apply(decoder.read(rec.path, o.cell, o.cell), unused);
      const int x = gap + c * (o.cell + gap) + (rec.domain == Domain::Cartoon ? 2 * gap : 0);
      img.copyTo(sheet(cv::Rect(x, gap + r * (o.cell + gap), o.cell, o.cell)));
    }
  }
  return sheet;
}

}  // namespace toonreid
