// A gallery index together with the model that embeds for it: the index's own stored
// config and checkpoint, so that new images and queries are embedded exactly as its
// vectors were (and run.threads applies). What `index add`, `index calibrate`,
// `search`, `scan` and `serve` open.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "recipe/run_setup.h"
#include "serve/embedder.h"
#include "serve/gallery_index.h"

namespace toonreid {

class IndexSetup {
 public:
  // Opens (and, for changes, repairs) the index, logging each repair, and loads its
  // model. Throws Error when the checkpoint it was built with is gone or another model
  // results, or (ReadWrite) when another process is changing the index.
  explicit IndexSetup(const std::filesystem::path& dir, OpenMode mode);
  GalleryIndex& index() { return *index_; }
  Embedder& embedder() { return *embedder_; }
  const RunSetup& run() const { return *run_; }

 private:
  std::unique_ptr<GalleryIndex> index_;
  std::unique_ptr<RunSetup> run_;
  std::unique_ptr<Embedder> embedder_;
};

// The calibration for an index: a file (toonreid calibrate), or computed now with the
// index's model on `split` of `data` (default data.root); exactly one of the two.
Calibration calibration_for(const RunSetup& run, Embedder& embedder, const std::string& file, const std::string& data,
                            const std::string& split, bool progress);

// What `index build` makes: a new index at `out` of `images` embedded with `weights` (a
// checkpoint; empty: the config's pretrained network) under `run`'s config, with
// `options`' search structure and, when a calibration file or split is named, the
// calibration (checked first, so a wrong one stops the build before any embedding; it
// must be of the same model). In a data-parallel job (run.join_job() done) the ranks
// share the embedding and rank 0 alone writes; other ranks return an empty optional.
struct IndexBuildRequest {
  std::filesystem::path out;
  std::string weights;
  IndexOptions options;
  std::string calibration_file, calibration_split, calibration_data;
};
std::optional<IndexStats> build_index(const RunSetup& run, const Dataset& images, const IndexBuildRequest& request,
                                      bool progress);

}  // namespace toonreid
