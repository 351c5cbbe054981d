// Turns images into embeddings the way a gallery index was built: the model (a
// checkpoint, or the config's pretrained network), its test-time input pipeline, and
// with input.align the face chain (chips cached in face.cache_dir). The fingerprint
// identifies weights + input settings, so that an index refuses queries embedded by
// another model.
#pragma once

#include <memory>
#include <string>

#include <torch/types.h>

#include "core/config.h"
#include "data/dataset.h"
#include "model/reid_model.h"

namespace toonreid {

class Embedder {
 public:
  // `config`: merged config (test.*, input.*, face.*); `weights`: checkpoint or empty.
  // `group`: a data-parallel job (index build): embed() shares each call's images among
  // the ranks, returns them all on rank 0 and an undefined tensor elsewhere.
  Embedder(const Config& config, const std::string& weights, class ProcessGroup* group = nullptr);
  ~Embedder();

  // [N, dim] L2-normalised embeddings of the records' images (aligned first with
  // input.align). Unreadable images throw DataError naming them.
  torch::Tensor embed(const Dataset& images, bool progress = false);

  int64_t dim() const { return dim_; }
  const std::string& fingerprint() const { return fingerprint_; }
  std::string preprocessing() const;  // "112x112, aligned (ssd, dlib, letterbox), flip averaged"

 private:
  const Config& config_;
  std::unique_ptr<Config> model_config_;  // the checkpoint's own input settings
  ReidModel model_{nullptr};
  std::unique_ptr<class FaceAligner> aligner_;  // with input.align: loaded once, not per request
  int64_t dim_ = 0;
  std::string fingerprint_;
  ProcessGroup* group_ = nullptr;
};

}  // namespace toonreid
