#include "data/image_io.h"

#include <png.h>
#include <turbojpeg.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace toonreid {

namespace fs = std::filesystem;

const char* format_name(ImageFormat f) {
  switch (f) {
    case ImageFormat::Jpeg: return "JPEG";
    case ImageFormat::Png: return "PNG";
    case ImageFormat::WebP: return "WebP";
    case ImageFormat::Bmp: return "BMP";
    case ImageFormat::Gif: return "GIF";
    case ImageFormat::Tiff: return "TIFF";
    case ImageFormat::Unknown: break;
  }
  return "unknown";
}

ImageFormat detect_format(const std::uint8_t* d, std::size_t n) {
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return ImageFormat::Jpeg;
  if (n >= 8 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) return ImageFormat::Png;
  if (n >= 12 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0) return ImageFormat::WebP;
  if (n >= 2 && d[0] == 'B' && d[1] == 'M') return ImageFormat::Bmp;
  if (n >= 4 && std::memcmp(d, "GIF8", 4) == 0) return ImageFormat::Gif;
  if (n >= 4 && (std::memcmp(d, "II*\0", 4) == 0 || std::memcmp(d, "MM\0*", 4) == 0)) return ImageFormat::Tiff;
  return ImageFormat::Unknown;
}

namespace {

void read_file(const fs::path& path, std::vector<std::uint8_t>& out) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw DataError("cannot open image " + path.string() + (fs::exists(path) ? "" : " (file not found)"));
  auto size = static_cast<std::size_t>(in.tellg());
  out.resize(size);
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(size)))
    throw DataError("cannot read image " + path.string());
}

std::string megapixels(double pixels) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f MP", pixels / 1e6);
  return b;
}

[[noreturn]] void too_large(const std::string& name, int64_t w, int64_t h, int64_t limit, const std::string& extra) {
  throw ImageTooLargeError(name + ": " + std::to_string(w) + " x " + std::to_string(h) + " pixels (" +
                           megapixels(static_cast<double>(w) * static_cast<double>(h)) + ") is above the limit of " +
                           megapixels(static_cast<double>(limit)) + " (input.max_pixels)" + extra);
}

cv::Mat decode_png(const std::uint8_t* data, std::size_t size, const std::string& name, int64_t max_pixels) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, data, size))
    throw DataError("corrupt PNG image " + name + ": " + image.message);
  // The header's size decides, before the pixels are allocated.
  if (max_pixels > 0 && static_cast<int64_t>(image.width) * static_cast<int64_t>(image.height) > max_pixels) {
    png_image_free(&image);
    too_large(name, image.width, image.height, max_pixels, "");
  }
  image.format = PNG_FORMAT_RGB;
  cv::Mat out(static_cast<int>(image.height), static_cast<int>(image.width), CV_8UC3);
  // Transparent pixels are composited onto white, the usual page colour of drawings.
  png_color background{255, 255, 255};
  if (!png_image_finish_read(&image, &background, out.data, static_cast<png_int_32>(out.step[0]), nullptr)) {
    std::string msg = image.message;
    png_image_free(&image);
    throw DataError("corrupt PNG image " + name + ": " + msg);
  }
  return out;
}

}  // namespace

ImageDecoder::ImageDecoder() : handle_(tjInitDecompress()) {
  if (handle_ == nullptr) throw Error("cannot initialise the TurboJPEG decoder");
}

ImageDecoder::~ImageDecoder() { tjDestroy(static_cast<tjhandle>(handle_)); }

cv::Mat ImageDecoder::read(const fs::path& path, int min_width, int min_height) {
  read_file(path, buffer_);
  return decode(buffer_.data(), buffer_.size(), path.string(), min_width, min_height);
}

cv::Mat ImageDecoder::decode(const std::uint8_t* data, std::size_t size, const std::string& name, int min_width,
                             int min_height) {
  if (size == 0) throw DataError("empty image file " + name);
  ImageFormat format = detect_format(data, size);
  switch (format) {
    case ImageFormat::Jpeg: return decode_jpeg(data, size, name, min_width, min_height);
    case ImageFormat::Png: return decode_png(data, size, name, max_pixels_);
    case ImageFormat::Unknown: throw DataError("not an image, or a corrupt one: " + name);
    default:
      throw UnsupportedFormatError(std::string("unsupported format ") + format_name(format) + ": " + name +
                                   " (toonreid reads JPEG and PNG)");
  }
}

cv::Mat ImageDecoder::decode_jpeg(const std::uint8_t* data, std::size_t size, const std::string& name, int min_w,
                                  int min_h) {
  auto tj = static_cast<tjhandle>(handle_);
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj, data, static_cast<unsigned long>(size), &width, &height, &subsamp, &colorspace) != 0)
    throw DataError("corrupt JPEG image " + name + ": " + tjGetErrorStr2(tj));
  int out_w = width, out_h = height;
  int n = 0;
  tjscalingfactor* factors = tjGetScalingFactors(&n);
  const auto area = [](int64_t w, int64_t h) { return w * h; };
  if (min_w > 0 || min_h > 0) {
    // Pick the smallest scaled size that still covers the requested size.
    for (int i = 0; i < n; ++i) {
      int w = TJSCALED(width, factors[i]), h = TJSCALED(height, factors[i]);
      if (w >= min_w && h >= min_h && area(w, h) < area(out_w, out_h)) out_w = w, out_h = h;
    }
  }
  if (max_pixels_ > 0 && area(out_w, out_h) > max_pixels_) {
    // Too many pixels: the largest DCT scale within the limit, or a refusal.
    int best_w = 0, best_h = 0;
    for (int i = 0; i < n; ++i) {
      if (factors[i].num >= factors[i].denom) continue;  // reductions only
      const int w = TJSCALED(width, factors[i]), h = TJSCALED(height, factors[i]);
      if (area(w, h) <= max_pixels_ && area(w, h) > area(best_w, best_h)) best_w = w, best_h = h;
    }
    if (best_w == 0) too_large(name, width, height, max_pixels_, ", even at 1/8 scale");
    out_w = best_w, out_h = best_h;
  }
  cv::Mat out(out_h, out_w, CV_8UC3);
  if (tjDecompress2(tj, data, static_cast<unsigned long>(size), out.data, out_w, static_cast<int>(out.step[0]), out_h,
                    TJPF_RGB, TJFLAG_FASTDCT) != 0) {
    // Warnings (e.g. a few trailing bytes missing) still yield an image; errors do not.
    if (strict_ || tjGetErrorCode(tj) == TJERR_FATAL)
      throw DataError("corrupt JPEG image " + name + ": " + tjGetErrorStr2(tj));
  }
  return out;
}

cv::Size ImageDecoder::probe(const fs::path& path) {
  read_file(path, buffer_);
  const std::string name = path.string();
  ImageFormat format = detect_format(buffer_.data(), buffer_.size());
  if (format == ImageFormat::Jpeg) {
    int w = 0, h = 0, s = 0, c = 0;
    if (tjDecompressHeader3(static_cast<tjhandle>(handle_), buffer_.data(), static_cast<unsigned long>(buffer_.size()),
                            &w, &h, &s, &c) != 0)
      throw DataError("corrupt JPEG image " + name);
    return {w, h};
  }
  if (format == ImageFormat::Png) {
    png_image image;
    std::memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, buffer_.data(), buffer_.size()))
      throw DataError("corrupt PNG image " + name + ": " + image.message);
    const cv::Size size(static_cast<int>(image.width), static_cast<int>(image.height));
    png_image_free(&image);
    return size;
  }
  cv::Mat m = decode(buffer_.data(), buffer_.size(), name);  // throws for what is not JPEG or PNG
  return m.size();
}

cv::Mat read_image(const fs::path& path, int min_width, int min_height) {
  ImageDecoder decoder;
  return decoder.read(path, min_width, min_height);
}

std::vector<std::uint8_t> encode_jpeg(const cv::Mat& rgb, int quality) {
  if (rgb.type() != CV_8UC3) throw Error("encode_jpeg needs an 8-bit RGB image");
  cv::Mat img = rgb.isContinuous() ? rgb : rgb.clone();
  tjhandle tj = tjInitCompress();
  if (tj == nullptr) throw Error("cannot initialise the TurboJPEG encoder");
  unsigned char* jpeg = nullptr;
  unsigned long jpeg_size = 0;
  int rc = tjCompress2(tj, img.data, img.cols, static_cast<int>(img.step[0]), img.rows, TJPF_RGB, &jpeg, &jpeg_size,
                       TJSAMP_420, quality, TJFLAG_FASTDCT);
  std::string err = rc != 0 ? tjGetErrorStr2(tj) : "";
  std::vector<std::uint8_t> out;
  if (rc == 0) out.assign(jpeg, jpeg + jpeg_size);
  tjFree(jpeg);
  tjDestroy(tj);
  if (rc != 0) throw Error("JPEG encoding failed: " + err);
  return out;
}

std::vector<std::uint8_t> encode_png(const cv::Mat& rgb) {
  if (rgb.type() != CV_8UC3) throw Error("encode_png needs an 8-bit RGB image");
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(rgb.cols);
  image.height = static_cast<png_uint_32>(rgb.rows);
  image.format = PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  const auto stride = static_cast<png_int_32>(rgb.step[0]);
  if (!png_image_write_to_memory(&image, nullptr, &size, 0, rgb.data, stride, nullptr))
    throw Error(std::string("PNG encoding failed: ") + image.message);
  std::vector<std::uint8_t> out(size);
  if (!png_image_write_to_memory(&image, out.data(), &size, 0, rgb.data, stride, nullptr))
    throw Error(std::string("PNG encoding failed: ") + image.message);
  out.resize(size);
  return out;
}

void write_image(const fs::path& path, const cv::Mat& rgb, int jpeg_quality, bool durable) {
  std::string ext = path.extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::vector<std::uint8_t> bytes;
  if (ext == ".jpg" || ext == ".jpeg") bytes = encode_jpeg(rgb, jpeg_quality);
  else if (ext == ".png") bytes = encode_png(rgb);
  else throw Error("cannot write " + path.string() + ": unsupported extension (use .jpg or .png)");
  write_file_atomically(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), durable);
}

}  // namespace toonreid
