// Decoding and writing images: JPEG through libjpeg-turbo's TurboJPEG API, PNG through
// libpng. Images are cv::Mat of type CV_8UC3 in RGB order. Other formats (WebP, BMP,
// GIF, TIFF) are recognised by their magic bytes and rejected with
// UnsupportedFormatError naming the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core/mat.hpp>

#include "core/error.h"

namespace toonreid {

// An image whose header declares more pixels than the decoder's limit (decoding it would
// allocate width x height x 3 bytes first: a "decompression bomb").
class ImageTooLargeError : public DataError {
 public:
  using DataError::DataError;
};

// The default pixel limit (input.max_pixels): 40 megapixels, 120 MB decoded.
constexpr std::int64_t kDefaultMaxPixels = 40'000'000;

enum class ImageFormat { Jpeg, Png, WebP, Bmp, Gif, Tiff, Unknown };
const char* format_name(ImageFormat f);
ImageFormat detect_format(const std::uint8_t* data, std::size_t size);

// Owns a TurboJPEG decompressor, so a loader thread decodes without re-creating one
// per image. Not thread-safe: one per thread.
class ImageDecoder {
 public:
  ImageDecoder();
  ~ImageDecoder();
  ImageDecoder(const ImageDecoder&) = delete;
  ImageDecoder& operator=(const ImageDecoder&) = delete;

  // Decodes a file. When min_width/min_height are given, a JPEG much larger than that
  // is decoded at a reduced scale (1/2, 1/4, 1/8, ...) whose result still covers
  // min_width x min_height, which is several times faster. `name` is used in errors.
  cv::Mat read(const std::filesystem::path& path, int min_width = 0, int min_height = 0);
  cv::Mat decode(const std::uint8_t* data, std::size_t size, const std::string& name, int min_width = 0,
                 int min_height = 0);
  // Strict decoding also rejects JPEGs that libjpeg-turbo decodes with a warning
  // (e.g. truncated files, whose missing rows come out grey). Off by default so that
  // training tolerates harmless glitches; `data stats --verify` turns it on.
  void set_strict(bool strict) { strict_ = strict; }
  // Images are checked against a pixel limit from their header, before any pixel memory
  // is allocated: a JPEG above it is decoded at the largest reduced DCT scale (1/2, 1/4,
  // 1/8) that fits, a PNG above it (or a JPEG still above it at 1/8) throws
  // ImageTooLargeError naming both sizes. 0: no limit.
  void set_max_pixels(std::int64_t max_pixels) { max_pixels_ = max_pixels; }
  std::int64_t max_pixels() const { return max_pixels_; }

  // Width and height from the header alone (no pixel decoding).
  cv::Size probe(const std::filesystem::path& path);

 private:
  cv::Mat decode_jpeg(const std::uint8_t* data, std::size_t size, const std::string& name, int min_w, int min_h);
  void* handle_;  // tjhandle
  std::vector<std::uint8_t> buffer_;  // reused file buffer
  bool strict_ = false;
  std::int64_t max_pixels_ = kDefaultMaxPixels;
};

// Convenience for one-off reads.
cv::Mat read_image(const std::filesystem::path& path, int min_width = 0, int min_height = 0);

// Writes an RGB image; the format follows the extension (.jpg/.jpeg or .png). The file
// is written atomically (`durable`: and synced to disk first, see atomic_file.h). Throws
// Error on an unknown extension or a failure.
void write_image(const std::filesystem::path& path, const cv::Mat& rgb, int jpeg_quality = 92, bool durable = true);

std::vector<std::uint8_t> encode_jpeg(const cv::Mat& rgb, int quality = 92);
std::vector<std::uint8_t> encode_png(const cv::Mat& rgb);

}  // namespace toonreid
