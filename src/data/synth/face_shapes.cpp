#include "data/synth/face_shapes.h"

#include <algorithm>
#include <cmath>

namespace toonreid::synth {

namespace {

constexpr double kPi = 3.14159265358979323846;

std::vector<cv::Point2d> ellipse(cv::Point2d c, double rx, double ry, int n = 40) {
  std::vector<cv::Point2d> pts;
  for (int i = 0; i < n; ++i) {
    double t = 2 * kPi * i / n;
    pts.emplace_back(c.x + rx * std::cos(t), c.y + ry * std::sin(t));
  }
  return pts;
}

// Superellipse |x/a|^n + |y/b|^n = 1 whose lower half narrows towards the chin.
std::vector<cv::Point2d> face_outline(cv::Point2d c, double a, double b, double n, double taper, double grow = 1.0) {
  std::vector<cv::Point2d> pts;
  const int count = 72;
  for (int i = 0; i < count; ++i) {
    double t = 2 * kPi * i / count;
    double ct = std::cos(t), st = std::sin(t);
    double x = a * grow * std::copysign(std::pow(std::abs(ct), 2.0 / n), ct);
    double y = b * grow * std::copysign(std::pow(std::abs(st), 2.0 / n), st);
    if (y > 0) x *= 1.0 - taper * std::pow(y / (b * grow), 2.0);
    pts.emplace_back(c.x + x, c.y + y);
  }
  return pts;
}

cv::Vec3d scale(const cv::Vec3d& c, double k) {
  return {std::min(255.0, c[0] * k), std::min(255.0, c[1] * k), std::min(255.0, c[2] * k)};
}

}  // namespace

FaceLayout build_face(const FaceParams& f, const Expression& e, int size, const cv::Vec3d& clothes) {
  FaceLayout L;
  const double u = size;
  const double fw = f[kFaceWidth] * u, fh = f[kFaceHeight] * u;
  const cv::Point2d c(0.5 * u, 0.47 * u);
  L.centre = c;
  L.half_width = fw;
  L.half_height = fh;
  auto& S = L.shapes;
  auto add = [&](Part part, std::vector<cv::Point2d> pts, cv::Vec3d colour, bool filled = true, double width = 1.0,
                 bool closed = true) { S.push_back({part, std::move(pts), colour, filled, closed, width}); };

  const double n = f[kSquareness], taper = f[kJawTaper];
  const double vol = f[kHairVolume] * fw;
  const double top = c.y - fh;
  const double hairline_y = top + f[kHairline] * fh;
  const double ey = c.y - f[kEyeHeight] * fh;

  // Hair behind the head.
  if (f.hair_style == HairStyle::Long) {
    std::vector<cv::Point2d> back = face_outline(c, fw + vol, fh + vol, 2.2, 0.0);
    std::vector<cv::Point2d> pts;
    for (const auto& p : back)
      if (p.y <= c.y) pts.push_back(p);
    std::sort(pts.begin(), pts.end(), [](auto& a, auto& b) { return a.x < b.x; });
    pts.insert(pts.begin(), cv::Point2d(c.x - fw - 1.15 * vol, c.y + 1.25 * fh));
    pts.emplace_back(c.x + fw + 1.15 * vol, c.y + 1.25 * fh);
    // Sort by angle to get a proper polygon around the centre.
    std::sort(pts.begin(), pts.end(), [&](auto& a, auto& b) {
      return std::atan2(a.y - c.y, a.x - c.x) < std::atan2(b.y - c.y, b.x - c.x);
    });
    add(Part::HairBack, pts, f.hair);
  } else if (f.hair_style == HairStyle::Bun) {
    add(Part::HairBack, ellipse({c.x, top - 0.35 * fh}, 0.45 * fw, 0.4 * fw), f.hair);
  } else if (f.hair_style == HairStyle::Curly) {
    // A halo of curls around the upper head, cut off at ear level.
    std::vector<cv::Point2d> halo;
    for (const auto& p : face_outline({c.x, c.y - 0.1 * fh}, fw + 2.2 * vol + 0.1 * fw, fh + 1.5 * vol, 2.0, 0.0))
      if (p.y <= c.y + 0.15 * fh) halo.push_back(p);
    add(Part::HairBack, halo, f.hair);
  }

  // Shoulders and neck.
  const double neck_top = c.y + 0.55 * fh;
  add(Part::Clothes,
      {{c.x - 0.48 * u, u * 1.05}, {c.x - 0.42 * u, c.y + fh + 0.13 * u}, {c.x - 0.15 * u, c.y + fh + 0.06 * u},
       {c.x + 0.15 * u, c.y + fh + 0.06 * u}, {c.x + 0.42 * u, c.y + fh + 0.13 * u}, {c.x + 0.48 * u, u * 1.05}},
      clothes);
  const double nw = 0.42 * fw;
  add(Part::Neck, {{c.x - nw, neck_top}, {c.x + nw, neck_top}, {c.x + nw * 1.08, c.y + fh + 0.1 * u},
                   {c.x - nw * 1.08, c.y + fh + 0.1 * u}},
      scale(f.skin, 0.9));

  // Ears, partly hidden by the face drawn over them.
  for (int side : {-1, 1}) {
    double ex = c.x + side * fw * (0.97 - 0.1 * taper * std::pow((ey + 0.1 * fh - c.y) / fh, 2));
    add(Part::Ear, ellipse({ex, ey + 0.12 * fh}, 0.16 * fw * f[kEarSize], 0.24 * fh * f[kEarSize], 24), f.skin);
  }

  auto outline = face_outline(c, fw, fh, n, taper);
  add(Part::Skin, outline, f.skin);

  const double my = c.y + f[kMouthHeight] * fh;
  const double mw = f[kMouthWidth] * fw;
  const double nose_y = c.y + f[kNoseLength] * fh;
  const double nose_w = f[kNoseWidth] * fw;

  // Facial hair (before the mouth and nose, which are drawn over it).
  if (f.facial_hair == FacialHair::Full) {
    auto grown = face_outline(c, fw, fh, n, taper, 1.03);
    std::vector<cv::Point2d> beard;
    for (const auto& p : grown)
      if (p.y > nose_y) beard.push_back(p);
    std::sort(beard.begin(), beard.end(), [&](auto& a, auto& b) {
      return std::atan2(a.y - c.y, a.x - c.x) < std::atan2(b.y - c.y, b.x - c.x);
    });
    add(Part::FacialHair, beard, f.hair);
  }
  if (f.facial_hair == FacialHair::Goatee)
    add(Part::FacialHair, ellipse({c.x, my + 0.24 * fh}, 0.45 * mw, 0.2 * fh, 24), f.hair);
  if (f.facial_hair == FacialHair::Moustache || f.facial_hair == FacialHair::Full)
    add(Part::FacialHair,
        {{c.x - mw * 1.1, my + 0.02 * fh}, {c.x - mw * 0.7, my - 0.11 * fh}, {c.x, my - 0.14 * fh},
         {c.x + mw * 0.7, my - 0.11 * fh}, {c.x + mw * 1.1, my + 0.02 * fh}, {c.x, my - 0.05 * fh}},
        scale(f.hair, 0.9));

  // Nose: side shading line and nostrils.
  add(Part::NoseLine,
      {{c.x + 0.15 * nose_w, ey + 0.12 * fh}, {c.x + 0.55 * nose_w, nose_y - 0.03 * fh},
       {c.x + 0.2 * nose_w, nose_y + 0.02 * fh}, {c.x - 0.3 * nose_w, nose_y + 0.01 * fh}},
      scale(f.skin, 0.7), false, std::max(1.0, 0.012 * u), false);
  for (int side : {-1, 1})
    add(Part::Nostril, ellipse({c.x + side * 0.5 * nose_w, nose_y}, 0.2 * nose_w, 0.09 * nose_w + 0.5, 12),
        scale(f.skin, 0.45));

  // Mouth: a curve whose corners rise with the smile.
  {
    const int m = 16;
    const double lift = e.smile * 0.09 * fh;
    const double gap = e.mouth_open * 0.16 * fh;
    const double lip = f[kLipThickness] * fh;
    std::vector<cv::Point2d> line, upper_top, lower_bottom, inner_bottom;
    for (int i = 0; i <= m; ++i) {
      double t = -1.0 + 2.0 * i / m;
      double x = c.x + t * mw;
      double y = my - lift * t * t;
      double bulge = std::sqrt(std::max(0.0, 1 - t * t));
      line.emplace_back(x, y);
      upper_top.emplace_back(x, y - 0.6 * lip * bulge - 0.15 * lip * std::abs(std::sin(kPi * t)));
      inner_bottom.emplace_back(x, y + gap * bulge);
      lower_bottom.emplace_back(x, y + gap * bulge + lip * bulge);
    }
    std::vector<cv::Point2d> upper(upper_top.begin(), upper_top.end());
    upper.insert(upper.end(), line.rbegin(), line.rend());
    std::vector<cv::Point2d> lower(inner_bottom.begin(), inner_bottom.end());
    lower.insert(lower.end(), lower_bottom.rbegin(), lower_bottom.rend());
    if (gap > 0.01 * fh) {
      std::vector<cv::Point2d> inside(line.begin(), line.end());
      inside.insert(inside.end(), inner_bottom.rbegin(), inner_bottom.rend());
      add(Part::MouthInside, inside, {70, 20, 25});
      if (e.smile > 0.3) {
        std::vector<cv::Point2d> teeth(line.begin() + 2, line.end() - 2);
        for (int i = m - 2; i >= 2; --i) teeth.emplace_back(line[i].x, line[i].y + 0.45 * gap);
        add(Part::Teeth, teeth, {245, 245, 240});
      }
    }
    add(Part::Lips, upper, scale(f.lips, 0.92));
    add(Part::Lips, lower, f.lips);
  }

  // Eyes and brows.
  for (int side : {-1, 1}) {
    const double ex = c.x + side * f[kEyeSpacing] * fw;
    const double ew = f[kEyeWidth] * fw;
    const double eh = std::max(0.6, f[kEyeRoundness] * ew * e.eye_open);
    add(Part::Sclera, ellipse({ex, ey}, ew, eh, 32), {248, 248, 245});
    const double ir = std::min(0.48 * ew, 0.95 * eh + 0.5);
    add(Part::Iris, ellipse({ex, ey}, ir, ir, 20), f.iris);
    add(Part::Pupil, ellipse({ex, ey}, 0.45 * ir, 0.45 * ir, 12), {10, 10, 10});
    std::vector<cv::Point2d> lid;
    for (int i = 0; i <= 12; ++i) {
      double t = kPi + kPi * i / 12.0;
      lid.emplace_back(ex + 1.05 * ew * std::cos(t), ey + 1.05 * eh * std::sin(t));
    }
    add(Part::Eyelid, lid, {30, 22, 20}, false, std::max(1.0, 0.012 * u), false);

    const double by = ey - f[kBrowGap] * fh - e.brow_raise * fh;
    const double bl = f[kBrowLength] * fw;
    const double tilt = f[kBrowTilt] * fh;
    std::vector<cv::Point2d> brow;
    for (int i = 0; i <= 8; ++i) {
      double t = -1.0 + 2.0 * i / 8;  // -1 outer .. 1 inner for side -1
      double x = ex + side * (-t) * bl;
      double y = by - 0.06 * fh * (1 - t * t) + tilt * (t + 1) * 0.5;
      brow.emplace_back(x, y);
    }
    add(Part::Brow, brow, scale(f.hair, 0.85), false, f[kBrowThickness] * u, false);
  }

  if (f.mole)
    add(Part::Mole, ellipse({c.x + f.mole_position.x * fw, c.y + f.mole_position.y * fh}, 0.025 * fw + 0.6,
                            0.025 * fw + 0.6, 10),
        {60, 35, 25});

  // Hair on top of the head.
  auto cap = [&](double extra, bool spiky) {
    std::vector<cv::Point2d> pts;
    const double a = fw + extra, b = fh + extra;
    // Outer arc from the left temple over the top to the right temple.
    const int count = spiky ? 22 : 30;
    const double start = kPi + 0.12, end = 2 * kPi - 0.12;
    for (int i = 0; i <= count; ++i) {
      double t = start + (end - start) * i / count;
      double r = spiky && (i % 2 == 1) ? 1.0 + 0.45 * extra / b + 0.08 : 1.0;
      double ct = std::cos(t), st = std::sin(t);
      pts.emplace_back(c.x + r * a * std::copysign(std::pow(std::abs(ct), 2.0 / n), ct),
                       c.y - 0.02 * fh + r * b * std::copysign(std::pow(std::abs(st), 2.0 / n), st));
    }
    // Down the right side to the temple, then along the hairline back to the left.
    pts.emplace_back(c.x + fw * 1.0, ey - 0.08 * fh);
    pts.emplace_back(c.x + fw * 0.9, ey - 0.1 * fh);
    for (int i = 0; i <= 10; ++i) {
      double t = 1.0 - 2.0 * i / 10;
      pts.emplace_back(c.x + 0.85 * fw * t, hairline_y + 0.18 * fh * t * t);
    }
    pts.emplace_back(c.x - fw * 0.9, ey - 0.1 * fh);
    pts.emplace_back(c.x - fw * 1.0, ey - 0.08 * fh);
    return pts;
  };

  switch (f.hair_style) {
    case HairStyle::Bald:
      for (int side : {-1, 1})
        add(Part::HairFront,
            {{c.x + side * fw * 1.0, ey - 0.25 * fh}, {c.x + side * (fw + vol * 0.6), ey - 0.1 * fh},
             {c.x + side * (fw + vol * 0.4), ey + 0.15 * fh}, {c.x + side * fw * 0.96, ey + 0.1 * fh}},
            f.hair);
      break;
    case HairStyle::Buzz:
      add(Part::HairFront, cap(0.25 * vol, false), 0.55 * f.hair + 0.45 * f.skin);
      break;
    case HairStyle::Spiky:
      add(Part::HairFront, cap(vol * 1.5, true), f.hair);
      break;
    case HairStyle::SideSwept: {
      add(Part::HairFront, cap(vol, false), f.hair);
      const double s = f.fringe_side;
      add(Part::HairFront,
          {{c.x - s * 0.9 * fw, hairline_y - 0.05 * fh}, {c.x + s * 0.95 * fw, hairline_y - 0.1 * fh},
           {c.x + s * 0.95 * fw, ey - 0.22 * fh}, {c.x + s * 0.55 * fw, ey - 0.3 * fh},
           {c.x - s * 0.2 * fw, hairline_y + 0.12 * fh}},
          f.hair);
      break;
    }
    case HairStyle::Curly: {
      auto base = cap(vol, false);
      add(Part::HairFront, base, f.hair);
      for (int i = 0; i < 9; ++i) {
        double t = kPi + 0.15 + (kPi - 0.3) * i / 8.0;
        cv::Point2d p(c.x + (fw + vol) * std::cos(t), c.y - 0.05 * fh + (fh + vol) * std::sin(t));
        add(Part::HairFront, ellipse(p, 0.45 * vol + 0.06 * fw, 0.45 * vol + 0.06 * fw, 16), f.hair);
      }
      break;
    }
    default:
      add(Part::HairFront, cap(vol, false), f.hair);
  }

  // Glasses last: they sit in front of everything.
  if (f.glasses != Glasses::None) {
    const double gw = std::max(1.0, 0.014 * u);
    std::vector<cv::Point2d> inner_ends;
    for (int side : {-1, 1}) {
      const double ex = c.x + side * f[kEyeSpacing] * fw;
      const double rx = 1.45 * f[kEyeWidth] * fw, ry = std::max(0.9 * rx * 0.8, 0.12 * fh);
      if (f.glasses == Glasses::Round) {
        add(Part::GlassesFrame, ellipse({ex, ey}, rx, ry, 32), f.glasses_colour, false, gw, true);
      } else {
        add(Part::GlassesFrame,
            {{ex - rx, ey - 0.8 * ry}, {ex + rx, ey - 0.8 * ry}, {ex + rx * 0.95, ey + 0.8 * ry},
             {ex - rx * 0.95, ey + 0.8 * ry}},
            f.glasses_colour, false, gw, true);
      }
      inner_ends.emplace_back(ex - side * rx, ey - 0.2 * ry);
      add(Part::GlassesFrame, {{ex + side * rx, ey - 0.3 * ry}, {c.x + side * fw * 1.02, ey - 0.25 * ry}},
          f.glasses_colour, false, gw, false);
    }
    add(Part::GlassesFrame, {inner_ends[0], {c.x, ey - 0.35 * (inner_ends[0].y - ey + 0.3 * fh)}, inner_ends[1]},
        f.glasses_colour, false, gw, false);
  }
  return L;
}

}  // namespace toonreid::synth
