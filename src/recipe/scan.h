// toonreid scan: every face in many pictures identified against a gallery index.
//
//   OUT/scan_settings.json   what the scan decides with (index, model, operating point,
//                            face choice); a rerun with other settings starts afresh
//   OUT/journal.rank<R>.jsonl  one line per picture done (its faces and decisions, or
//                            why it could not be read), appended and flushed as it goes:
//                            an interrupted scan resumes where it stopped, with any
//                            number of ranks
//   OUT/faces.csv            picture, face, box, detector, detector score, decision,
//                            identity, score, threshold, fpir: one row per face found
//                            (and one "no_face" row per picture without a face)
//   OUT/unreadable.csv       pictures that could not be read, with the reason
//   OUT/report.html          a contact sheet: the matches grouped by identity beside the
//                            gallery's photo, then the unknown faces (self-contained)
//
// Pictures are decoded, their faces found, embedded and searched on worker threads (in
// memory: nothing of a picture is written but its results). In a data-parallel job
// (toonreid launch) rank r takes the pictures r, r + W, ...; rank 0 writes the tables and
// the report from every rank's journal, the same files one process writes.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "serve/embedder.h"
#include "serve/gallery_index.h"
#include "serve/gallery_search.h"

namespace toonreid {

class ProcessGroup;

struct ScanOptions {
  SearchOptions search;  // top_k, fpir or threshold
  FaceSelection faces;
  int workers = 0;       // pictures at once (0: one per core)
  bool progress = false;
  std::size_t report_faces_per_identity = 24;  // face crops shown per identity in report.html
  std::size_t report_unknown_faces = 300;      // unknown faces shown in report.html
};

struct ScanSummary {
  std::size_t pictures = 0, done_before = 0;  // pictures in the scan; of them, done by an earlier run
  std::size_t faces = 0, matches = 0, unknown = 0, uncalibrated = 0, without_face = 0, unreadable = 0;
  double seconds = 0;  // this run's wall time
  // Time spent per stage, summed over the workers (their shares of the work).
  double decode_seconds = 0, face_seconds = 0, embed_seconds = 0, search_seconds = 0;
  std::size_t pictures_now = 0, faces_now = 0;  // handled by this run (this rank)
  std::string describe() const;                 // counts, pictures/s, faces/s, stage shares
};

// Scans `pictures` (the same list, in the same order, on every rank) into `out`.
ScanSummary scan_pictures(const GalleryIndex& index, const Embedder& embedder, const std::vector<std::filesystem::path>& pictures,
                          const std::filesystem::path& out, const ScanOptions& options, ProcessGroup* group = nullptr);

}  // namespace toonreid
