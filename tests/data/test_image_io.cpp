#include "data/image_io.h"

#include <gtest/gtest.h>

#include <png.h>

#include <cstring>
#include <fstream>

#include "core/error.h"
#include "test_util.h"

namespace toonreid {
namespace {

using testing::TempDir;
using testing::test_pattern;

double mean_abs_diff(const cv::Mat& a, const cv::Mat& b) { return cv::norm(a, b, cv::NORM_L1) / a.total() / 3.0; }

TEST(ImageIO, PngRoundTripIsExact) {
  TempDir dir;
  cv::Mat img = test_pattern(37, 23);
  write_image(dir / "a.png", img);
  cv::Mat back = read_image(dir / "a.png");
  ASSERT_EQ(back.size(), img.size());
  EXPECT_EQ(cv::norm(img, back, cv::NORM_INF), 0.0);
}

TEST(ImageIO, JpegRoundTripIsClose) {
  TempDir dir;
  cv::Mat img = test_pattern(64, 48);
  write_image(dir / "a.jpg", img, 95);
  cv::Mat back = read_image(dir / "a.jpg");
  ASSERT_EQ(back.size(), img.size());
  EXPECT_EQ(back.type(), CV_8UC3);
  EXPECT_LT(mean_abs_diff(img, back), 6.0);
}

TEST(ImageIO, ScaledJpegDecodingCoversTheRequestedSize) {
  TempDir dir;
  write_image(dir / "big.jpg", test_pattern(640, 480));
  ImageDecoder decoder;
  cv::Mat full = decoder.read(dir / "big.jpg");
  EXPECT_EQ(full.size(), cv::Size(640, 480));
  cv::Mat quarter = decoder.read(dir / "big.jpg", 150, 100);
  EXPECT_EQ(quarter.size(), cv::Size(160, 120));  // 1/4 is the smallest scale covering 150x100
  cv::Mat half = decoder.read(dir / "big.jpg", 200, 200);
  EXPECT_GE(half.cols, 200);
  EXPECT_GE(half.rows, 200);
  EXPECT_LT(half.cols, 640);
  EXPECT_EQ(decoder.probe(dir / "big.jpg"), cv::Size(640, 480));
}

TEST(ImageIO, OtherFormatsAreRejectedByName) {
  TempDir dir;
  testing::write_text(dir / "a.webp", std::string("RIFF\x10\0\0\0WEBPVP8 ", 16));
  testing::write_text(dir / "b.jpg", "BM\x36\0\0\0\0\0\0\0");  // a BMP with a .jpg name
  try {
    read_image(dir / "a.webp");
    FAIL();
  } catch (const UnsupportedFormatError& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported format WebP"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("a.webp"), std::string::npos);
  }
  EXPECT_THROW(read_image(dir / "b.jpg"), UnsupportedFormatError);
  EXPECT_THROW(write_image(dir / "c.bmp", test_pattern(4, 4)), Error);
}

TEST(ImageIO, CorruptMissingAndEmptyFilesNameTheFile) {
  TempDir dir;
  testing::write_text(dir / "empty.jpg", "");
  testing::write_text(dir / "junk.jpg", "definitely not an image");
  testing::write_text(dir / "bad.jpg", std::string("\xFF\xD8\xFF\xE0garbage-garbage-garbage", 26));
  for (const char* name : {"empty.jpg", "junk.jpg", "bad.jpg", "missing.jpg"}) {
    try {
      read_image(dir / name);
      FAIL() << name;
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  }
}

TEST(ImageIO, TruncatedJpegFailsOnlyInStrictMode) {
  TempDir dir;
  auto bytes = encode_jpeg(test_pattern(128, 128), 90);
  bytes.resize(bytes.size() * 2 / 3);
  ImageDecoder decoder;
  cv::Mat partial = decoder.decode(bytes.data(), bytes.size(), "cut.jpg");
  EXPECT_EQ(partial.size(), cv::Size(128, 128));
  decoder.set_strict(true);
  EXPECT_THROW(decoder.decode(bytes.data(), bytes.size(), "cut.jpg"), DataError);
}

TEST(ImageIO, PngWithAlphaIsCompositedOnWhite) {
  // Two RGBA pixels: opaque red, fully transparent red.
  const unsigned char rgba[] = {255, 0, 0, 255, 255, 0, 0, 0};
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = 2;
  image.height = 1;
  image.format = PNG_FORMAT_RGBA;
  png_alloc_size_t size = 0;
  ASSERT_TRUE(png_image_write_to_memory(&image, nullptr, &size, 0, rgba, 0, nullptr));
  std::vector<unsigned char> bytes(size);
  ASSERT_TRUE(png_image_write_to_memory(&image, bytes.data(), &size, 0, rgba, 0, nullptr));
  ImageDecoder decoder;
  cv::Mat m = decoder.decode(bytes.data(), size, "alpha.png");
  ASSERT_EQ(m.size(), cv::Size(2, 1));
  EXPECT_EQ(m.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 0, 0));
  EXPECT_EQ(m.at<cv::Vec3b>(0, 1), cv::Vec3b(255, 255, 255));
}

// Decompression bombs: the header's size is checked before any pixel memory is taken.
TEST(ImageIO, PixelBombsAreRefusedFromTheHeaderNamingTheLimit) {
  const std::string png = testing::png_declaring(30000, 30000);
  ImageDecoder decoder;
  try {
    decoder.decode(reinterpret_cast<const std::uint8_t*>(png.data()), png.size(), "bomb.png");
    FAIL() << "a 900-megapixel PNG was decoded";
  } catch (const ImageTooLargeError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("bomb.png"), std::string::npos) << m;
    EXPECT_NE(m.find("30000 x 30000"), std::string::npos) << m;
    EXPECT_NE(m.find("40.0 MP"), std::string::npos) << m;
    EXPECT_NE(m.find("input.max_pixels"), std::string::npos) << m;
  }
  const auto small = encode_jpeg(test_pattern(64, 48), 90);
  const std::string jpeg = testing::jpeg_declaring(std::string(small.begin(), small.end()), 60000, 60000);
  EXPECT_THROW(decoder.decode(reinterpret_cast<const std::uint8_t*>(jpeg.data()), jpeg.size(), "bomb.jpg"), ImageTooLargeError);
  // The limit is the decoder's: lower it, and an ordinary image is refused too.
  decoder.set_max_pixels(64 * 48 - 1);
  const auto png_bytes = encode_png(test_pattern(64, 48));
  EXPECT_THROW(decoder.decode(png_bytes.data(), png_bytes.size(), "p.png"), ImageTooLargeError);
  decoder.set_max_pixels(0);  // no limit
  EXPECT_EQ(decoder.decode(png_bytes.data(), png_bytes.size(), "p.png").size(), cv::Size(64, 48));
}

TEST(ImageIO, AJpegAboveTheLimitIsDecodedAtAReducedScaleWhenThatFits) {
  const auto bytes = encode_jpeg(test_pattern(640, 480), 90);
  ImageDecoder decoder;
  decoder.set_max_pixels(100'000);  // 307,200 pixels at full size; 76,800 at 1/2
  const cv::Mat m = decoder.decode(bytes.data(), bytes.size(), "big.jpg");
  EXPECT_EQ(m.size(), cv::Size(320, 240));
  decoder.set_max_pixels(1000);  // even 1/8 (80 x 60 = 4,800) is above: refused
  EXPECT_THROW(decoder.decode(bytes.data(), bytes.size(), "big.jpg"), ImageTooLargeError);
}

}  // namespace
}  // namespace toonreid
