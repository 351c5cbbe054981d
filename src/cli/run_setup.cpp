#include "cli/run_setup.h"

#include <spdlog/spdlog.h>
#include <torch/utils.h>

#include "toonreid_schema.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/runtime.h"
#include "data/training_selection.h"
#include "data/transforms.h"
#include "face/aligned_dataset.h"
#include "retrieval/features.h"
#include "retrieval/matrix_io.h"

namespace toonreid::cli {

void add_model_args(CLI::App* cmd, ModelArgs& a, bool weights) {
  cmd->add_option("--config", a.config, "YAML config")->required()->check(CLI::ExistingFile);
  cmd->add_option("--data", a.data, "Data set folder or manifest (default: data.root)");
  cmd->add_option("--split", a.split,
                  "Split to use (default: data.test_split); 'validation': the identities data.val_identities holds out");
  if (weights) {
    cmd->add_option("--weights", a.weights, "Checkpoint (default: the config's pretrained initialisation)");
    cmd->add_option("--features", a.features,
                    "Features saved by extract / eval --save (.npy or .trm, one row per record of the split) "
                    "instead of running a model")->check(CLI::ExistingFile)->excludes("--weights");
  }
  auto* q = cmd->add_option("--query-split", a.query_split,
                            "Rank this split's images against --gallery-split's (any domains) instead of C2P and P2C");
  auto* g = cmd->add_option("--gallery-split", a.gallery_split, "Gallery split for --query-split");
  q->needs(g);
  g->needs(q);
  cmd->add_option("overrides", a.overrides, "Config overrides key.sub=value");
}

namespace {
std::unique_ptr<ConfigSchema> make_schema() { return std::make_unique<ConfigSchema>(toonreid_schema()); }
}  // namespace

RunSetup::RunSetup(const std::string& config_file, const std::vector<std::string>& overrides)
    : schema_(make_schema()), config_(load_config(*schema_, config_file, overrides)) {
  int threads = set_compute_threads(static_cast<int>(config_.get_int("run.threads")));
  spdlog::debug("{} compute threads", threads);
}

Dataset RunSetup::open_data(const std::string& root) const {
  std::string path = root.empty() ? config_.get_string("data.root") : root;
  if (path.empty()) throw ConfigError(config_.describe("data.root") + ": no data set given (set data.root or pass --data)");
  Dataset data = open_dataset(path);
  for (const auto& w : data.warnings()) spdlog::warn("{}", w);
  return data;
}

Dataset RunSetup::select_split(const Dataset& all, const std::string& name) const {
  if (name != "validation" || config_.get_int("data.val_identities") == 0) return all.split(name);
  return validation_data(all, config_);
}

Dataset RunSetup::faces(const Dataset& data) const {
  if (!config_.get_bool("input.align")) return data;
  // Faces first: every image becomes its aligned chip, cached on disk.
  FaceAligner aligner(face_options(config_));
  AlignRunOptions run;
  run.workers = available_cores();  // one image per core (bench_face: faster than cores per image)
  run.progress = ProgressBar::terminal_attached();
  run.progress_label = "align faces";
  return align_with_cache(data, aligner, config_.get_string("face.cache_dir"), run);
}

RunSetup::EvalModel RunSetup::eval_model(const std::string& weights) const {
  if (weights.empty()) {
    // Seeded, so that a randomly initialised model is the same in every evaluation.
    torch::manual_seed(static_cast<uint64_t>(config_.get_int("run.seed")));
    EvalModel m{build_model(config_, 0), std::make_unique<Config>(config_)};
    m.model->eval();
    return m;
  }
  LoadedModel loaded = load_model_checkpoint(weights, *schema_);
  spdlog::info("model from {} (trained {} epochs on {} identities)", weights, loaded.info.epoch, loaded.info.identities.size());
  return EvalModel{loaded.model, std::make_unique<Config>(loaded.config)};
}

torch::Tensor RunSetup::features(ReidModel& model, const Config& model_config, const Dataset& data, bool progress) const {
  ExtractOptions o = extract_options(config_);
  o.device = model->parameters().empty() ? torch::Device(torch::kCPU) : model->parameters().front().device();
  auto extract = [&](const Dataset& d, const char* label) {
    ProgressBar bar(d.size(), label, progress);
    return extract_features(model, d, make_transforms(model_config, false), o,
                            [&](std::size_t done) { bar.advance(done - bar.count()); });
  };
  torch::Tensor chips = extract(data, "extract");
  const std::string whole = config_.get_string("test.whole_image");
  if (whole == "none" || !config_.get_bool("input.align")) return chips;
  // A second view: the whole image each chip was cut from.
  std::vector<ImageRecord> originals = data.records();
  for (auto& r : originals) r.path = r.source_path();
  const torch::Tensor images = extract(Dataset(std::move(originals), data.origin()), "extract whole");
  return combine_views({chips, images}, whole == "concat" ? ViewCombination::Concat : ViewCombination::Average);
}

std::vector<RetrievalDirection> RunSetup::retrieve(const torch::Tensor& features, const Dataset& data) const {
  const RetrievalOptions options = retrieval_options(config_);
  spdlog::debug("retrieval: {}", options.describe());
  std::vector<RetrievalDirection> directions = run_cross_domain(features, data, options);
  for (const auto& d : directions)
    if (options.rank_adjust) spdlog::info("{}: rank adjustment changed the top match of {} of {} queries", d.name, d.adjusted, d.query_records.size());
  return directions;
}

SplitRetrieval RunSetup::retrieve_split(const ModelArgs& args, const std::string& weights, bool progress) const {
  SplitRetrieval r;
  if (!args.query_split.empty()) {
    // The records of both splits, queries first in file order; one custom direction.
    Dataset all = open_data(args.data);
    std::vector<ImageRecord> records;
    for (const std::string& s : {args.query_split, args.gallery_split}) {
      const Dataset part = all.split(s);  // named: records() refers into it
      records.insert(records.end(), part.records().begin(), part.records().end());
    }
    r.data = Dataset(std::move(records), all.origin());
  } else {
    r.data = select_split(open_data(args.data), args.split.empty() ? config_.get_string("data.test_split") : args.split);
  }
  // Saved features stand for the images as they were extracted: nothing to align.
  if (args.features.empty()) r.data = faces(r.data);
  if (!args.features.empty()) {
    r.features = read_matrix(args.features);
    if (r.features.dim() != 2 || r.features.size(0) != static_cast<int64_t>(r.data.size()))
      throw DataError(args.features + ": " + std::to_string(r.features.size(0)) + " feature rows for the " +
                      std::to_string(r.data.size()) + " records selected from " + r.data.origin());
    r.model = "features " + args.features;
  } else {
    auto m = eval_model(weights);
    r.model = weights.empty() ? "pretrained initialisation (" + config_.get_string("model.backbone") + ")" : weights;
    r.features = features(m.model, *m.model_config, r.data, progress);
  }
  if (args.query_split.empty()) {
    r.directions = retrieve(r.features, r.data);
  } else {
    r.directions.push_back(split_direction(r.data, args.query_split, args.gallery_split));
    evaluate_direction(r.directions.back(), r.features, retrieval_options(config_));
  }
  return r;
}

CrossDomainReport RunSetup::evaluate(ReidModel& model, const Config& model_config, const Dataset& data, bool progress) const {
  return summarise(retrieve(features(model, model_config, data, progress), data));
}

}  // namespace toonreid::cli
