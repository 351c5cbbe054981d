#include "recipe/index_setup.h"

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "recipe/open_set_run.h"
#include "serve/gallery_search.h"

namespace toonreid {

IndexSetup::IndexSetup(const std::filesystem::path& dir, OpenMode mode) {
  index_ = std::make_unique<GalleryIndex>(dir, mode);
  for (const auto& r : index_->repairs()) spdlog::warn("{}: {}", dir.string(), r);
  run_ = std::make_unique<RunSetup>(RunSetup::from_text(index_->model().config_yaml, dir.string() + " (its config)"));
  const std::string& weights = index_->model().weights;
  if (!weights.empty() && !std::filesystem::exists(weights))
    throw Error(dir.string() + ": the index was built with " + weights + ", which no longer exists");
  embedder_ = std::make_unique<Embedder>(run_->config(), weights);
  check_same_model(*index_, *embedder_);
}

Calibration calibration_for(const RunSetup& run, Embedder& embedder, const std::string& file, const std::string& data,
                            const std::string& split, bool progress) {
  if (file.empty() == split.empty()) throw Error("calibration: give a calibration file or a split to calibrate on, not both");
  if (!file.empty()) return Calibration::load(file);
  SplitRequest request;
  request.data = data;
  request.split = split;
  return calibrate_model(run, embedder, request, progress);
}

std::optional<IndexStats> build_index(const RunSetup& run, const Dataset& images, const IndexBuildRequest& request,
                                      bool progress) {
  const std::string weights = request.weights.empty() ? "" : std::filesystem::absolute(request.weights).string();
  Embedder embedder(run.config(), weights, run.process_group().get());
  if (!run.is_main()) {  // rank 0 writes the index
    enrol_share(embedder, images);
    return std::nullopt;
  }
  std::optional<Calibration> cal;
  const bool calibrated = !request.calibration_file.empty() || !request.calibration_split.empty();
  if (calibrated) {
    cal = calibration_for(run, embedder, request.calibration_file, request.calibration_data, request.calibration_split,
                          progress);
    if (cal->fingerprint != embedder.fingerprint())
      throw Error((request.calibration_file.empty() ? std::string("the calibration") : request.calibration_file) +
                  ": made for model " + cal->fingerprint + ", the index is built with " + embedder.fingerprint() +
                  " (same config and weights needed)");
  }
  GalleryIndex::create(request.out, embedder.index_model(weights),
                       request.options);
  GalleryIndex index(request.out);
  if (cal) index.set_calibration(*cal);
  enrol(index, embedder, images, progress);
  index.snapshot();  // a bulk build: the next open loads the snapshot, nothing to replay
  return index.stats();
}

}  // namespace toonreid
