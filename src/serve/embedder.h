// Turns images into embeddings the way a gallery index was built: the model (a
// checkpoint, or the config's pretrained network), its test-time input pipeline, and
// with input.align the face chain (chips cached in face.cache_dir). The fingerprint
// identifies weights + input settings, so that an index refuses queries embedded by
// another model.
//
// Convention: embeddings are float32 [N, dim], row i the i-th input, each row of unit
// length (cosine = inner product). Construction throws ConfigError for settings that
// contradict the checkpoint's own input pipeline and Error for a missing or unreadable
// checkpoint. embed() is for one thread at a time (it writes the chip cache);
// find_faces() and embed_chips() may be called from many threads at once.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <opencv2/core/mat.hpp>
#include <torch/types.h>

#include "core/config.h"
#include "data/dataset.h"
#include "data/transforms.h"
#include "face/face_aligner.h"
#include "model/reid_model.h"
#include "serve/gallery_index.h"

namespace toonreid {

// Which faces of a picture to embed.
struct FaceSelection {
  bool largest_only = false;  // only the largest face found (one face per picture)
  bool fallback = false;      // no face found: embed the whole picture (face.fallback) as one face
};

class Embedder {
 public:
  // `config`: merged config (test.*, input.*, face.*); `weights`: checkpoint or empty.
  // `group`: a data-parallel job (index build): embed() shares each call's images among
  // the ranks, returns them all on rank 0 and an undefined tensor elsewhere.
  Embedder(const Config& config, const std::string& weights, class ProcessGroup* group = nullptr);
  ~Embedder();

  // [N, dim] L2-normalised embeddings of the records' images (aligned first with
  // input.align, through the chip cache: data sets and bulk enrolment). Unreadable
  // images throw DataError naming them.
  torch::Tensor embed(const Dataset& images, bool progress = false);

  // The faces of one decoded picture (8-bit RGB), in memory: nothing is written. With
  // input.align every face the chain finds (FaceAligner::align_all) or the largest, in
  // picture order; none when no face is found unless `selection.fallback`. Without
  // input.align the picture itself is the one face (path Whole). Thread-safe.
  std::vector<AlignedFace> find_faces(const cv::Mat& rgb8, const FaceSelection& selection) const;
  // The same for several pictures (one detector pass over all of them).
  std::vector<std::vector<AlignedFace>> find_faces(const std::vector<cv::Mat>& pictures,
                                                   const std::vector<FaceSelection>& selections) const;
  // [N, dim] L2-normalised embeddings of chips (or, without input.align, pictures) as
  // find_faces gives them: the model's test pipeline and flip averaging, in batches.
  // Thread-safe.
  torch::Tensor embed_chips(const std::vector<cv::Mat>& chips) const;

  int64_t dim() const { return dim_; }
  // input.max_pixels: the decoders of query pictures refuse larger images.
  int64_t max_pixels() const { return config_.get_int("input.max_pixels"); }
  const std::string& fingerprint() const { return fingerprint_; }
  std::string preprocessing() const;  // "112x112, aligned (ssd, dlib, letterbox), flip averaged"
  // What a gallery index built with this embedder records (GalleryIndex::create): the
  // fingerprint, the merged config, `weights` as the index is to reopen them (empty: the
  // config's pretrained network), the preprocessing and the embedding size.
  IndexModel index_model(const std::string& weights) const;

 private:
  const Config& config_;
  std::unique_ptr<Config> model_config_;  // the checkpoint's own input settings
  ReidModel model_{nullptr};
  std::unique_ptr<FaceAligner> aligner_;  // with input.align: loaded once, not per request
  std::unique_ptr<TransformPipeline> pipeline_;  // the model's test-time input pipeline
  int64_t dim_ = 0;
  std::string fingerprint_;
  ProcessGroup* group_ = nullptr;
};

}  // namespace toonreid
