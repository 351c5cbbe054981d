// Aligning whole data sets: `toonreid align` writes an aligned copy in the same layout
// plus alignment.csv; `input.align: true` aligns inline through an on-disk cache of
// chips keyed by image content and settings, so that no epoch or evaluation detects
// twice. Both run the face chain on worker threads, report every image that cannot be
// read (the rest go on), and resume: work already done with the same settings is reused.
#pragma once

#include <array>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "face/face_aligner.h"

namespace toonreid {

// What happened to one image.
struct AlignmentRow {
  std::string image;        // the image's path (relative to the data root in alignment.csv)
  Domain domain = Domain::Photo;
  std::string path_taken;   // user | ssd | dlib | letterbox | center_crop | error
  float score = 0;
  FaceBox box;
  std::vector<cv::Point2f> landmarks;  // image pixels
  std::string source_hash;  // content hash of the source file
  std::string error;        // why the image could not be aligned (path_taken == "error")

  std::string to_csv() const;
  static AlignmentRow from_csv(const std::string& line, const std::string& where);
  static const char* csv_header();
};

// Counts per path and domain, images reused from earlier runs, failures.
struct AlignmentSummary {
  std::map<std::string, std::array<std::size_t, 2>> by_path;  // path -> {photos, cartoons}
  std::size_t aligned = 0, reused = 0, failed = 0;
  std::vector<std::string> errors;  // "file: message", in record order
  double seconds = 0;               // time spent aligning (not reusing)
  void add(const AlignmentRow& row, bool reused);
  // "ssd 89.1% of photos, 85.3% of cartoons; dlib ...; 3 failed".
  std::string describe() const;
};

// A fast content hash of a file (64-bit FNV-1a of its bytes, hex). Throws DataError
// naming the file when it cannot be read.
std::string file_content_hash(const std::filesystem::path& file);

struct AlignRunOptions {
  int workers = 1;             // images aligned at once
  int threads_per_worker = 0;  // LibTorch threads in each worker (0: the cores shared out)
  bool progress = false;
  std::string progress_label = "align";
  std::int64_t max_pixels = 40'000'000;  // input.max_pixels
};

// input.align: the same records with paths to cached chips under
// cache_dir/<settings hash>/. Images that cannot be read keep their original path (the
// loader then reports them as usual) and are listed in the summary.
Dataset align_with_cache(const Dataset& data, const FaceAligner& aligner, const std::filesystem::path& cache_dir,
                         const AlignRunOptions& run, AlignmentSummary* summary = nullptr);

// align_with_cache split among the ranks of a data-parallel job: each rank aligns every
// N-th image into the cache (which the ranks must share), all wait for each other, then
// every rank reads the whole set from the cache. Plain align_with_cache without a group.
Dataset align_with_cache_shared(const Dataset& data, const FaceAligner& aligner, const std::filesystem::path& cache_dir,
                                AlignRunOptions run, class ProcessGroup* group);

// toonreid align: an aligned copy of `data` (read from `source`, a WebCaricature root or
// a CSV manifest) under `out`, in the same layout (splits/ copied; for a manifest, a new
// manifest.csv), with alignment.csv. Images aligned by an earlier run with the same
// settings and an unchanged source are skipped.
AlignmentSummary align_copy(const Dataset& data, const std::filesystem::path& source, const FaceAligner& aligner,
                            const std::filesystem::path& out, const AlignRunOptions& run);

}  // namespace toonreid
