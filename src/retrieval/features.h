// Feature extraction: runs a model over a data set in order and returns one embedding
// per record, optionally averaged with the embedding of the horizontally flipped image
// and L2-normalised.
#pragma once

#include <functional>

#include <torch/types.h>

#include "data/dataset.h"
#include "data/transforms.h"
#include "model/reid_model.h"

namespace toonreid {

class Config;
class ConfigSchema;

struct ExtractOptions {
  int batch_size = 128;
  int workers = 2;
  bool flip = true;       // average with the flipped image's embedding
  bool normalize = true;  // L2-normalise the result
  torch::Device device = torch::kCPU;
  // A data-parallel job: each rank embeds a contiguous run of whole batches and rank 0
  // gathers them (the same batches as one process, so the same values bit for bit);
  // the other ranks get an undefined tensor.
  class ProcessGroup* group = nullptr;
  std::int64_t max_pixels = 40'000'000;  // input.max_pixels
};

void add_test_options(ConfigSchema& schema);
ExtractOptions extract_options(const Config& config);

// Several views of each image (the aligned chip, the whole image) as one embedding:
// each view L2-normalised, then averaged ("average") or concatenated ("concat"), and
// normalised again. views: [N, D_v] each, same N.
enum class ViewCombination { Average, Concat };
torch::Tensor combine_views(const std::vector<torch::Tensor>& views, ViewCombination how);

// Embeddings of one batch of prepared images [N, 3, H, W] (on the model's device): the
// model's test-time embedding, averaged with the mirrored images' when `flip`, then
// L2-normalised when `normalize` (else the flip average is halved). The step that
// extract_features runs per batch, for callers that prepare images themselves.
torch::Tensor embed_batch(ReidModel& model, const torch::Tensor& images, bool flip, bool normalize);

// [N, D] float features on the CPU, row i for record i. `progress(done)` after each batch.
// With options.group: see ExtractOptions::group.
torch::Tensor extract_features(ReidModel& model, const Dataset& data, const TransformPipeline& pipeline,
                               const ExtractOptions& options,
                               const std::function<void(std::size_t)>& progress = {});

}  // namespace toonreid
