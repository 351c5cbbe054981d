// Chip geometry and the face chain: the similarity fit equals dlib's own
// get_face_chip_details, a face at a known placement lands on the template, user
// landmarks override detection, images without a face take the fallback and say so.
#include <gtest/gtest.h>

#include <dlib/image_transforms/interpolation.h>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <random>

#include "core/config.h"
#include "core/error.h"
#include "data/image_io.h"
#include "face/chip_geometry.h"
#include "face/face_aligner.h"
#include "model/faceapi_weights.h"
#include "test_util.h"

namespace toonreid {
namespace {

namespace fs = std::filesystem;

// The 68 template points of a chip, for indices 17..67; 0..16 (the jaw) are placed
// below the face, where no fit looks at them.
std::vector<cv::Point2f> template_face(const ChipGeometry& g) {
  std::vector<cv::Point2f> pts(68);
  for (int i = 0; i < 17; ++i) pts[i] = cv::Point2f(10.0f + 7.0f * i, static_cast<float>(g.size) * 0.95f);
  for (int i = 17; i < 68; ++i) pts[i] = cv::Point2f(template_point(i, g));
  return pts;
}

// A similarity: rotation `deg`, scale `s`, shift (tx, ty).
std::vector<cv::Point2f> move(const std::vector<cv::Point2f>& pts, double deg, double s, double tx, double ty) {
  const double a = s * std::cos(deg * CV_PI / 180), b = s * std::sin(deg * CV_PI / 180);
  return transform_points(pts, cv::Matx23d(a, -b, tx, b, a, ty));
}

TEST(ChipGeometry, EqualsDlibsFaceChipDetails) {
  std::mt19937 rng(5);
  std::normal_distribution<double> jitter(0, 3);
  const ChipGeometry g{150, 0.25};
  for (int trial = 0; trial < 5; ++trial) {
    std::vector<cv::Point2f> pts = move(template_face(g), -25 + 12 * trial, 0.6 + 0.4 * trial, 40 + 9 * trial, 30);
    for (auto& p : pts) p += cv::Point2f(static_cast<float>(jitter(rng)), static_cast<float>(jitter(rng)));
    std::vector<dlib::point> parts;
    for (const auto& p : pts) parts.emplace_back(std::lround(p.x), std::lround(p.y));
    std::vector<cv::Point2f> rounded;
    for (const auto& p : parts) rounded.emplace_back(static_cast<float>(p.x()), static_cast<float>(p.y()));
    const dlib::full_object_detection det(dlib::rectangle(0, 0, 400, 400), parts);
    const dlib::point_transform_affine theirs = dlib::get_mapping_to_chip(dlib::get_face_chip_details(det, 150, 0.25));
    const cv::Matx23d ours = chip_transform(rounded, g);
    for (int r = 0; r < 2; ++r) {
      for (int c = 0; c < 2; ++c) EXPECT_NEAR(ours(r, c), theirs.get_m()(r, c), 1e-6) << "trial " << trial;
      EXPECT_NEAR(ours(r, 2), theirs.get_b()(r), 1e-4) << "trial " << trial;
    }
  }
}

TEST(ChipGeometry, KnownPlacementLandsOnTheTemplate) {
  const ChipGeometry g{150, 0.25};
  const std::vector<cv::Point2f> face = move(template_face(g), 30, 1.8, 200, -40);
  const cv::Matx23d m = chip_transform(face, g);
  const std::vector<cv::Point2f> back = transform_points(face, m);
  // dlib maps the chip rectangle's corners to pixels 0 and size - 1, so the template
  // lands scaled by (size - 1) / size (and its rectangle conventions move it by up to a
  // few tenths of a pixel more).
  const double shrink = (g.size - 1.0) / g.size;
  for (int i = 27; i < 68; ++i) {
    EXPECT_NEAR(back[i].x, template_point(i, g).x * shrink, 0.25);
    EXPECT_NEAR(back[i].y, template_point(i, g).y * shrink, 0.25);
  }
  // 5-point and 17-point schemes recover the same transform from their points.
  const auto eye = [&](int from) {
    cv::Point2f s(0, 0);
    for (int i = from; i < from + 6; ++i) s += face[i];
    return s * (1.0f / 6);
  };
  const cv::Matx23d five = chip_transform({eye(36), eye(42), face[30], face[48], face[54]}, g);
  std::vector<cv::Point2f> wc(17, cv::Point2f(0, 0));
  const int map[8][2] = {{8, 36}, {9, 39}, {10, 42}, {11, 45}, {12, 30}, {13, 48}, {14, 51}, {15, 54}};
  for (const auto& p : map) wc[p[0]] = face[p[1]];
  const cv::Matx23d seventeen = chip_transform(wc, g);
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 3; ++c) {
      EXPECT_NEAR(five(r, c), m(r, c), c == 2 ? 1e-3 : 1e-6);
      EXPECT_NEAR(seventeen(r, c), m(r, c), c == 2 ? 1e-3 : 1e-6);
    }
  EXPECT_THROW(chip_transform(std::vector<cv::Point2f>(68, cv::Point2f(3, 3)), g), DataError);
  EXPECT_THROW(chip_transform(std::vector<cv::Point2f>(12, cv::Point2f(3, 3)), g), DataError);
}

TEST(ChipGeometry, ChipShowsTheFaceWhereTheTemplateSaysAndShrinksWithoutAliasing) {
  // Paint a large rotated "face" of dots: each landmark a bright disc on black.
  const ChipGeometry g{150, 0.25};
  for (double scale : {2.0, 5.0}) {
    const std::vector<cv::Point2f> face = move(template_face(g), -15, scale, 60, 80);
    cv::Mat img(static_cast<int>(200 * scale + 200), static_cast<int>(200 * scale + 200), CV_8UC3, cv::Scalar::all(0));
    for (int i : {36, 45, 30, 48, 54}) cv::circle(img, face[i], static_cast<int>(3 * scale), cv::Scalar(255, 255, 255), -1);
    const cv::Mat chip = extract_chip(img, chip_transform(face, g), g.size);
    ASSERT_EQ(chip.size(), cv::Size(150, 150));
    for (int i : {36, 45, 30, 48, 54}) {
      const cv::Point2d t = template_point(i, g);
      EXPECT_GT(chip.at<cv::Vec3b>(static_cast<int>(std::lround(t.y)), static_cast<int>(std::lround(t.x)))[0], 200)
          << "point " << i << " at scale " << scale;
    }
    EXPECT_EQ(chip.at<cv::Vec3b>(75, 5)[0], 0);  // away from every dot
  }
}

fs::path faces() { return fs::path(testing::source_dir()) / "tests/fixtures/faceapi/faces"; }
bool have_weights() { return fs::exists(default_faceapi_folder(testing::source_dir()) / "ssd_mobilenetv1_model.bin"); }

FaceOptions options(std::vector<std::string> detectors) {
  FaceOptions o;
  o.detectors = std::move(detectors);
  o.weights_dir = default_faceapi_folder(testing::source_dir());
  return o;
}

TEST(FaceAligner, SsdPathOnADetectableFace) {
  if (!have_weights()) GTEST_SKIP() << "face-api weights missing (run make deps)";
  FaceAligner aligner(options({"ssd"}));
  const AlignedFace f = aligner.align(read_image(faces() / "cartoon_a.png"));
  EXPECT_EQ(f.path, FacePath::Ssd);
  EXPECT_NEAR(f.score, 0.713, 0.01);  // face-api's score for this image
  ASSERT_EQ(f.landmarks.size(), 68u);
  EXPECT_EQ(f.chip.size(), cv::Size(150, 150));
  // The eyes lie inside the detection box, left eye left of the right eye.
  EXPECT_LT(f.landmarks[36].x, f.landmarks[45].x);
  EXPECT_GT(f.landmarks[36].x, f.box.x);
  EXPECT_LT(f.landmarks[45].x, f.box.x + f.box.width);
}

TEST(FaceAligner, NoFaceTakesTheFallbackAndSaysSo) {
  if (!have_weights()) GTEST_SKIP() << "face-api weights missing (run make deps)";
  FaceOptions o = options({"ssd", "dlib"});
  FaceAligner letterbox(o);
  const cv::Mat gradient = read_image(faces() / "gradient.png");
  const AlignedFace a = letterbox.align(gradient);
  EXPECT_EQ(a.path, FacePath::Letterbox);
  EXPECT_EQ(a.score, 0.0f);
  EXPECT_TRUE(a.landmarks.empty());
  EXPECT_EQ(a.chip.size(), cv::Size(150, 150));
  o.fallback = "center_crop";
  o.center_crop_fraction = 0.5;
  FaceAligner crop(o);
  const AlignedFace c = crop.align(gradient);
  EXPECT_EQ(c.path, FacePath::CenterCrop);
  EXPECT_EQ(c.box.width, 48.0f);  // half of the 96-pixel side
  EXPECT_STREQ(face_path_name(c.path), "center_crop");
}

TEST(FaceAligner, UserLandmarksOverrideDetection) {
  if (!have_weights()) GTEST_SKIP() << "face-api weights missing (run make deps)";
  const ChipGeometry g;
  const std::vector<cv::Point2f> face = move(template_face(g), 10, 0.5, 20, 10);
  std::vector<float> xy;
  for (const auto& p : face) { xy.push_back(p.x); xy.push_back(p.y); }
  FaceOptions o = options({"ssd"});
  FaceAligner aligner(o);
  const cv::Mat img = read_image(faces() / "cartoon_a.png");  // the SSD would find a face here
  const AlignedFace f = aligner.align(img, xy);
  EXPECT_EQ(f.path, FacePath::User);
  EXPECT_EQ(f.score, 1.0f);
  EXPECT_NEAR(f.landmarks[30].x, face[30].x, 1e-4);
  o.use_user_landmarks = false;  // switched off: detection again
  EXPECT_EQ(FaceAligner(o).align(img, xy).path, FacePath::Ssd);
}

TEST(FaceAligner, DlibPathFindsAPhotoFace) {
  FaceOptions o = options({"dlib"});
  FaceAligner aligner(o);
  int found = 0;
  for (const char* file : {"photo_a.png", "photo_b.png", "tall.png", "wide.png"}) {
    const AlignedFace f = aligner.align(read_image(faces() / file));
    if (f.path != FacePath::Dlib) continue;
    ++found;
    ASSERT_EQ(f.landmarks.size(), 68u);
    EXPECT_LT(f.landmarks[36].x, f.landmarks[45].x) << file;
    EXPECT_GT(f.score, 0.0f) << file;
  }
  EXPECT_GE(found, 2);
}

// Synthetic faces side by side on one canvas, with a gap of background between them.
cv::Mat canvas_of(const std::vector<cv::Mat>& faces, int gap, std::vector<cv::Rect>* tiles) {
  int w = gap, h = 0;
  for (const auto& f : faces) w += f.cols + gap, h = std::max(h, f.rows);
  cv::Mat canvas(h + 2 * gap, w, CV_8UC3, cv::Scalar(235, 235, 225));
  int x = gap;
  for (const auto& f : faces) {
    const cv::Rect r(x, gap, f.cols, f.rows);
    f.copyTo(canvas(r));
    tiles->push_back(r);
    x += f.cols + gap;
  }
  return canvas;
}

TEST(FaceAligner, AllFacesOfAPictureOneEachInPictureOrder) {
  if (!have_weights()) GTEST_SKIP() << "face-api weights missing (run make deps)";
  FaceAligner aligner(options({"ssd", "dlib"}));
  std::vector<cv::Rect> tiles;
  const cv::Mat canvas = canvas_of({read_image(faces() / "photo_a.png"), read_image(faces() / "cartoon_a.png"),
                                    read_image(faces() / "photo_b.png")},
                                   40, &tiles);
  const std::vector<AlignedFace> all = aligner.align_all(canvas);
  ASSERT_EQ(all.size(), 3u);
  for (std::size_t i = 0; i < all.size(); ++i) {
    const FaceBox& b = all[i].box;
    const cv::Point2f centre(b.x + b.width / 2, b.y + b.height / 2);
    EXPECT_TRUE(tiles[i].contains(centre)) << "face " << i << " centre " << centre << " outside " << tiles[i];
    EXPECT_GT(b.width, 0.3f * tiles[i].width) << i;
    EXPECT_LT(b.width, 1.2f * tiles[i].width) << i;
    EXPECT_EQ(all[i].chip.size(), cv::Size(150, 150));
    EXPECT_EQ(all[i].landmarks.size(), 68u);
    EXPECT_TRUE(all[i].path == FacePath::Ssd || all[i].path == FacePath::Dlib);
  }
  // The single-face chain on the same picture gives one of them.
  const AlignedFace one = aligner.align(canvas);
  EXPECT_NE(one.path, FacePath::Letterbox);
  // A picture without a face: nothing (the caller decides about a fallback).
  EXPECT_TRUE(aligner.align_all(read_image(faces() / "gradient.png")).empty());
  EXPECT_EQ(aligner.fallback(read_image(faces() / "gradient.png")).path, FacePath::Letterbox);
}

TEST(FaceAligner, TinyAndExtremeImagesTakeTheFallback) {
  if (!have_weights()) GTEST_SKIP() << "face-api weights missing (run make deps)";
  FaceAligner aligner(options({"ssd", "dlib"}));
  for (cv::Size size : {cv::Size(1, 1), cv::Size(3, 2), cv::Size(400, 7), cv::Size(5, 300)}) {
    const AlignedFace f = aligner.align(cv::Mat(size, CV_8UC3, cv::Scalar(90, 120, 200)));
    EXPECT_EQ(f.path, FacePath::Letterbox) << size;
    EXPECT_EQ(f.chip.size(), cv::Size(150, 150)) << size;
  }
  EXPECT_THROW(aligner.align(cv::Mat()), DataError);
  EXPECT_THROW(aligner.align(cv::Mat(4, 4, CV_8UC1, cv::Scalar(0))), DataError);
}

TEST(FaceAligner, BadSettingsAndMissingFilesNameTheCulprit) {
  FaceOptions o = options({"dlib"});
  o.dlib_predictor = "/nonexistent/predictor.dat";
  try {
    FaceAligner a(o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/predictor.dat"), std::string::npos) << e.what();
  }
  FaceOptions w = options({"ssd"});
  w.weights_dir = "/nonexistent/weights";
  EXPECT_THROW(FaceAligner{w}, Error);
  FaceOptions f = options({"ssd"});
  f.fallback = "nothing";
  EXPECT_THROW(FaceAligner{f}, ConfigError);
}


TEST(ChipGeometry, ArcFaceTemplateTakesTheFivePointsToInsightfacesPlaces) {
  ChipGeometry g{112, 0.0, "arcface"};
  const std::vector<cv::Point2d> t = arcface_template(g);
  ASSERT_EQ(t.size(), 5u);
  EXPECT_NEAR(t[0].x, 38.2946, 1e-9);
  EXPECT_NEAR(t[4].y, 92.2041, 1e-9);
  // Five points moved by a similarity come back exactly onto the template.
  std::vector<cv::Point2f> five;
  for (const auto& p : t) five.emplace_back(static_cast<float>(p.x), static_cast<float>(p.y));
  const auto moved = move(five, 20, 2.5, 40, -7);
  const cv::Matx23d m = chip_transform(moved, g);
  const auto back = transform_points(moved, m);
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_NEAR(back[i].x, t[i].x, 1e-3);
    EXPECT_NEAR(back[i].y, t[i].y, 1e-3);
  }
  // 68 points: the eyes' means, the nose tip and the mouth corners go there.
  const ChipGeometry dlib{150, 0.25, "dlib"};
  const auto face = move(template_face(dlib), -10, 1.7, 15, 30);
  const auto chip_points = transform_points(face, chip_transform(face, g));
  cv::Point2f left(0, 0);
  for (int i = 36; i < 42; ++i) left += chip_points[i] * (1.0f / 6);
  const cv::Point2f right_of_left_eye = chip_points[45];
  EXPECT_LT(left.x, right_of_left_eye.x);
  EXPECT_GT(chip_points[30].y, left.y);  // the nose below the eyes, upright
  // Padding widens the view: the same face is smaller in the chip.
  const ChipGeometry padded{112, 0.25, "arcface"};
  const auto p0 = transform_points(face, chip_transform(face, g)), p1 = transform_points(face, chip_transform(face, padded));
  EXPECT_LT(cv::norm(p1[48] - p1[54]), cv::norm(p0[48] - p0[54]));
  EXPECT_THROW(chip_transform(face, ChipGeometry{112, 0, "square"}), Error);
}

TEST(ChipGeometry, ShapeResidualTellsAFaceShapeFromScatter) {
  const ChipGeometry g{150, 0.25, "dlib"};
  EXPECT_LT(shape_fit_residual(move(template_face(g), 30, 0.4, 5, 9)), 1e-6);  // any similarity of the mean face
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0, 150);
  std::vector<cv::Point2f> scatter(68);
  for (auto& p : scatter) p = cv::Point2f(u(rng), u(rng));
  EXPECT_GT(shape_fit_residual(scatter), 0.15);
  EXPECT_THROW(shape_fit_residual(std::vector<cv::Point2f>(68, cv::Point2f(1, 1))), DataError);
}

TEST(FaceAligner, LandmarksPathFindsAFaceWithoutADetectorAndRefusesNoise) {
  if (!have_weights()) GTEST_SKIP() << "face-api weights missing (run make deps)";
  FaceOptions o = options({"landmarks"});
  FaceAligner aligner(o);
  const AlignedFace face = aligner.align(read_image(faces() / "photo_a.png"));
  EXPECT_EQ(face.path, FacePath::Landmarks);
  EXPECT_STREQ(face_path_name(face.path), "landmarks");
  EXPECT_GT(face.score, 0.0f);
  EXPECT_LE(face.score, 1.0f);
  ASSERT_EQ(face.landmarks.size(), 68u);
  EXPECT_LT(face.landmarks[36].x, face.landmarks[45].x);
  // A strict bound turns the same picture away: the test is what decides.
  o.max_shape_residual = 1e-4;
  EXPECT_EQ(FaceAligner(o).align(read_image(faces() / "photo_a.png")).path, FacePath::Letterbox);
}

// A picture cropped inside the face (brows to chin, as many tight web photos are): a padded
// candidate (fraction > 1) shows the net a face box with margin, and its landmarks come
// back in the picture's own coordinates, where the uncropped picture has them.
TEST(FaceAligner, LandmarksPathPadsPicturesCroppedInsideTheFace) {
  if (!have_weights()) GTEST_SKIP() << "face-api weights missing (run make deps)";
  FaceOptions o = options({"landmarks"});
  o.max_shape_residual = 0.08;
  const cv::Mat whole = read_image(faces() / "photo_a.png");
  const AlignedFace reference = FaceAligner(o).align(whole);
  ASSERT_EQ(reference.path, FacePath::Landmarks);
  const cv::Rect2f b = cv::boundingRect(reference.landmarks);
  const cv::Rect tight(static_cast<int>(b.x + 0.1f * b.width), static_cast<int>(b.y + 0.1f * b.height),
                       static_cast<int>(0.8f * b.width), static_cast<int>(0.85f * b.height));
  const cv::Mat cropped = whole(tight).clone();
  o.landmark_crops = {1.4};
  const AlignedFace face = FaceAligner(o).align(cropped);
  ASSERT_EQ(face.path, FacePath::Landmarks);
  double worst = 0;
  for (int i : {36, 39, 42, 45, 30, 48, 54}) {
    const cv::Point2f p = face.landmarks[static_cast<std::size_t>(i)] + cv::Point2f(static_cast<float>(tight.x), static_cast<float>(tight.y));
    worst = std::max(worst, cv::norm(p - reference.landmarks[static_cast<std::size_t>(i)]) / b.width);
  }
  EXPECT_LT(worst, 0.08) << "eye, nose and mouth points moved by " << worst << " of the face's width";
  ConfigSchema schema;
  add_face_options(schema);
  EXPECT_THROW(make_config(schema, {"face.landmark_crops=[2.5]"}), ConfigError);
}

TEST(FaceAligner, LowConfidenceSsdAndUpsampledDlibAreTheirOwnPaths) {
  if (!have_weights()) GTEST_SKIP() << "face-api weights missing (run make deps)";
  // cartoon_a's SSD score is 0.713: above a raised ssd threshold only ssd_low takes it.
  FaceOptions o = options({"ssd", "ssd_low"});
  o.min_confidence = 0.9f;
  o.low_confidence = 0.3f;
  o.max_shape_residual = 0.2;
  const AlignedFace low = FaceAligner(o).align(read_image(faces() / "cartoon_a.png"));
  EXPECT_EQ(low.path, FacePath::SsdLow);
  EXPECT_NEAR(low.score, 0.713, 0.01);
  o.max_shape_residual = 1e-4;  // implausible landmarks: not taken
  EXPECT_EQ(FaceAligner(o).align(read_image(faces() / "cartoon_a.png")).path, FacePath::Letterbox);
  FaceOptions up = options({"dlib_up"});
  const AlignedFace d = FaceAligner(up).align(read_image(faces() / "gradient.png"));
  EXPECT_EQ(d.path, FacePath::Letterbox);  // nothing to find, even doubled twice
  EXPECT_NE(FaceOptions(up).fingerprint(), options({"dlib"}).fingerprint());
}

}  // namespace
}  // namespace toonreid
