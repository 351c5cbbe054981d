#include "retrieval/features.h"

#include <torch/nn/functional/normalization.h>

#include <torch/utils.h>

#include "core/config.h"
#include "core/distributed.h"
#include "core/error.h"
#include "data/loader.h"
#include "data/sampler.h"

namespace toonreid {

void add_test_options(ConfigSchema& schema) {
  schema.describe_section("test", "Feature extraction and evaluation.");
  schema.add_int("test.batch_size", 128, "Images per batch when extracting features").range(1, 65536);
  schema.add_bool("test.flip", true, "Average each embedding with that of the mirrored image");
  schema.add_bool("test.normalize", true, "L2-normalise embeddings");
  schema.add_string("test.whole_image", "none",
                    "With input.align: also embed the whole image and average the two views (average) or "
                    "concatenate them (concat); none: the aligned chip alone")
      .one_of({"none", "average", "concat"});
}

torch::Tensor combine_views(const std::vector<torch::Tensor>& views, ViewCombination how) {
  if (views.empty()) throw Error("combine_views: no views");
  std::vector<torch::Tensor> unit;
  for (const auto& v : views) {
    if (v.dim() != 2 || v.size(0) != views.front().size(0))
      throw Error("combine_views: views of different shapes " + c10::str(views.front().sizes()) + " and " +
                  c10::str(v.sizes()));
    unit.push_back(torch::nn::functional::normalize(v, torch::nn::functional::NormalizeFuncOptions().dim(1)));
  }
  torch::Tensor joined = how == ViewCombination::Average ? torch::stack(unit).mean(0) : torch::cat(unit, 1);
  return torch::nn::functional::normalize(joined, torch::nn::functional::NormalizeFuncOptions().dim(1));
}

ExtractOptions extract_options(const Config& config) {
  ExtractOptions o;
  o.batch_size = static_cast<int>(config.get_int("test.batch_size"));
  o.flip = config.get_bool("test.flip");
  o.normalize = config.get_bool("test.normalize");
  o.workers = static_cast<int>(config.get_int("loader.workers"));
  o.max_pixels = config.get_int("input.max_pixels");
  return o;
}

torch::Tensor embed_batch(ReidModel& model, const torch::Tensor& x, bool flip, bool normalize) {
  torch::Tensor f = model->embed(x);
  if (flip) f = f + model->embed(x.flip({3}));
  if (normalize) return f / f.norm(2, 1, true).clamp_min(1e-12);
  return flip ? f / 2 : f;
}

torch::Tensor extract_features(ReidModel& model, const Dataset& data, const TransformPipeline& pipeline,
                               const ExtractOptions& o, const std::function<void(std::size_t)>& progress) {
  const bool was_training = model->is_training();
  model->eval();
  torch::NoGradGuard no_grad;
  BatchLoader loader(data, std::vector<int>(data.size(), -1), TransformPipeline(pipeline), {o.workers, 2 * std::max(1, o.workers), 0, 0, o.max_pixels});
  std::vector<BatchIndices> batches = SequentialSampler(data.size(), static_cast<std::size_t>(o.batch_size)).epoch(0);
  if (o.group) {
    // This rank's contiguous run of whole batches.
    const std::size_t n = batches.size(), r = static_cast<std::size_t>(o.group->rank()),
                      w = static_cast<std::size_t>(o.group->size());
    batches = std::vector<BatchIndices>(batches.begin() + static_cast<std::ptrdiff_t>(n * r / w),
                                        batches.begin() + static_cast<std::ptrdiff_t>(n * (r + 1) / w));
  }
  loader.start_epoch(std::move(batches), 0);
  std::vector<torch::Tensor> parts;
  std::size_t done = 0;
  while (auto batch = loader.next()) {
    parts.push_back(embed_batch(model, batch->images.to(o.device), o.flip, o.normalize).to(torch::kCPU, torch::kFloat));
    done += batch->indices.size();
    if (progress) progress(done);
  }
  model->train(was_training);
  torch::Tensor local = parts.empty() ? torch::zeros({0, 0}) : torch::cat(parts);
  if (o.group) return o.group->gather_rows(local, 0);
  return local;
}

}  // namespace toonreid
