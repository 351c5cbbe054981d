#include "serve/embedder.h"

#include <algorithm>
#include <cstdio>

#include "core/error.h"
#include "core/hash.h"
#include "core/runtime.h"
#include "data/transforms.h"
#include "face/aligned_dataset.h"
#include "face/face_aligner.h"
#include "face/input_pipeline.h"
#include "model/model_checkpoint.h"
#include "retrieval/features.h"

namespace toonreid {

namespace {

// The settings that change an embedding besides the weights.
std::string input_settings(const Config& model_config, const Config& config) {
  std::string text;
  for (const auto& o : model_config.schema().options())
    // (input.max_pixels refuses images, it never changes an embedding)
    if (o.key.rfind("input.", 0) == 0 && o.key != "input.max_pixels")
      text += o.key + "=" + format_value(model_config.get(o.key)) + "\n";
  for (const auto& o : config.schema().options())
    if (o.key.rfind("face.", 0) == 0 || o.key == "input.align" || o.key == "test.flip" || o.key == "test.normalize")
      if (o.key != "face.cache_dir") text += o.key + "=" + format_value(config.get(o.key)) + "\n";
  return text;
}

}  // namespace

Embedder::Embedder(const Config& config, const std::string& weights, ProcessGroup* group)
    : config_(config), group_(group) {
  torch::NoGradGuard no_grad;
  if (weights.empty()) {
    torch::manual_seed(static_cast<uint64_t>(config.get_int("run.seed")));
    model_ = build_model(config, 0);
    model_config_ = std::make_unique<Config>(config);
  } else {
    LoadedModel loaded = load_model_checkpoint(weights, config.schema());
    model_ = loaded.model;
    // The checkpoint's input pipeline (face/input_pipeline.h): its alignment and chip.
    model_config_ = std::make_unique<Config>(with_checkpoint_pipeline(config, loaded.config, weights));
  }
  model_->eval();
  if (model_config_->get_bool("input.align")) aligner_ = std::make_unique<FaceAligner>(face_options(*model_config_));
  Fnv1a f;
  for (const auto& p : model_->named_parameters()) {
    const torch::Tensor t = p.value().to(torch::kCPU).contiguous();
    f.add(p.key());
    f.add(t.data_ptr(), static_cast<std::size_t>(t.numel() * t.element_size()));
  }
  for (const auto& b : model_->named_buffers()) {
    const torch::Tensor t = b.value().to(torch::kCPU).contiguous();
    f.add(b.key());
    f.add(t.data_ptr(), static_cast<std::size_t>(t.numel() * t.element_size()));
  }
  f.add(input_settings(*model_config_, *model_config_));
  fingerprint_ = f.hex();
  // The embedding size, from one blank image.
  pipeline_ = std::make_unique<TransformPipeline>(make_transforms(*model_config_, false));
  dim_ = model_->forward(torch::zeros({1, 3, pipeline_->height(), pipeline_->width()})).pooled.size(1);
}

Embedder::~Embedder() = default;

torch::Tensor Embedder::embed(const Dataset& images, bool progress) {
  Dataset data = images;
  if (aligner_) {
    AlignRunOptions run;
    run.workers = available_cores();
    run.progress = progress;
    run.progress_label = "align faces";
    run.max_pixels = config_.get_int("input.max_pixels");
    data = align_with_cache_shared(data, *aligner_, config_.get_string("face.cache_dir"), run, group_);
  }
  ExtractOptions o = extract_options(config_);
  o.normalize = true;  // the index compares unit vectors
  o.group = group_;
  return extract_features(model_, data, *pipeline_, o);
}

std::vector<AlignedFace> Embedder::find_faces(const cv::Mat& rgb8, const FaceSelection& selection) const {
  return std::move(find_faces(std::vector<cv::Mat>{rgb8}, {selection}).front());
}

std::vector<std::vector<AlignedFace>> Embedder::find_faces(const std::vector<cv::Mat>& pictures,
                                                           const std::vector<FaceSelection>& selections) const {
  if (selections.size() != pictures.size()) throw Error("find_faces: one face selection per picture");
  std::vector<std::vector<AlignedFace>> all;
  if (!aligner_) {
    for (const cv::Mat& rgb8 : pictures) {
      AlignedFace whole;
      whole.chip = rgb8;
      whole.path = FacePath::Whole;
      whole.box = FaceBox{0, 0, static_cast<float>(rgb8.cols), static_cast<float>(rgb8.rows), 0};
      all.push_back({whole});
    }
    return all;
  }
  all = aligner_->align_all(pictures);
  for (std::size_t i = 0; i < pictures.size(); ++i) {
    std::vector<AlignedFace>& faces = all[i];
    if (faces.empty() && selections[i].fallback) faces.push_back(aligner_->fallback(pictures[i]));
    if (selections[i].largest_only && faces.size() > 1) {
      const auto largest = std::max_element(faces.begin(), faces.end(), [](const AlignedFace& a, const AlignedFace& b) {
        return a.box.width * a.box.height < b.box.width * b.box.height;
      });
      faces = {std::move(*largest)};
    }
  }
  return all;
}

torch::Tensor Embedder::embed_chips(const std::vector<cv::Mat>& chips) const {
  torch::NoGradGuard no_grad;
  const int64_t batch = std::max<int64_t>(1, config_.get_int("test.batch_size"));
  const int64_t h = pipeline_->height(), w = pipeline_->width(), n = static_cast<int64_t>(chips.size());
  ReidModel model = model_;  // a handle: forward passes of an eval-mode model may run at once
  const torch::Device device = model->parameters().empty() ? torch::Device(torch::kCPU) : model->parameters().front().device();
  std::vector<torch::Tensor> parts;
  Rng unused(0);  // the test pipeline draws nothing
  for (int64_t start = 0; start < n; start += batch) {
    const int64_t m = std::min(batch, n - start);
    torch::Tensor x = torch::empty({m, 3, h, w});
    for (int64_t i = 0; i < m; ++i) {
      const cv::Mat& chip = chips[static_cast<std::size_t>(start + i)];
      if (chip.empty() || chip.type() != CV_8UC3) throw DataError("embed: expects non-empty 8-bit RGB images");
      pipeline_->run(chip, unused, x[i].data_ptr<float>());
    }
    parts.push_back(embed_batch(model, x.to(device), config_.get_bool("test.flip"), true).to(torch::kCPU, torch::kFloat));
  }
  return parts.empty() ? torch::zeros({0, dim_}) : torch::cat(parts);
}

std::string Embedder::preprocessing() const {
  std::string s = std::to_string(pipeline_->width()) + "x" + std::to_string(pipeline_->height());
  if (model_config_->get_bool("input.align")) {
    std::string chain;
    for (const auto& d : model_config_->get_string_list("face.detectors")) chain += (chain.empty() ? "" : ", ") + d;
    s += ", faces aligned (" + chain + ")";
  } else {
    s += ", whole images";
  }
  if (config_.get_bool("test.flip")) s += ", flip averaged";
  return s;
}

IndexModel Embedder::index_model(const std::string& weights) const {
  return {fingerprint_, config_.to_yaml(false), weights, preprocessing(), dim_};
}

}  // namespace toonreid
