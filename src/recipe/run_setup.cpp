#include "recipe/run_setup.h"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <torch/utils.h>

#include "toonreid_schema.h"
#include "core/distributed.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/runtime.h"
#include "data/training_selection.h"
#include "data/transforms.h"
#include "engine/run_layout.h"
#include "face/aligned_dataset.h"
#include "retrieval/features.h"
#include "retrieval/matrix_io.h"

namespace toonreid {

namespace {
std::unique_ptr<ConfigSchema> make_schema() { return std::make_unique<ConfigSchema>(toonreid_schema()); }
}  // namespace

RunSetup::RunSetup(const std::string& config_file, const std::vector<std::string>& overrides)
    : RunSetup(make_schema(), [&](const ConfigSchema& schema) { return load_config(schema, config_file, overrides); }) {}

RunSetup::RunSetup(std::unique_ptr<ConfigSchema> schema, const std::function<Config(const ConfigSchema&)>& load)
    : schema_(std::move(schema)), config_(load(*schema_)) {
  int threads = set_compute_threads(static_cast<int>(config_.get_int("run.threads")));
  spdlog::debug("{} compute threads", threads);
}

RunSetup RunSetup::resuming(const std::filesystem::path& run_dir, const std::string& config_file,
                            const std::vector<std::string>& overrides) {
  const std::filesystem::path saved_file = RunLayout(run_dir).config();
  if (!std::filesystem::is_directory(run_dir))
    throw ConfigError("--resume " + run_dir.string() + ": no such run folder");
  if (!std::filesystem::exists(saved_file))
    throw ConfigError("--resume " + run_dir.string() + ": no config.yaml in it (not a toonreid training run folder)");
  // Settings that change where or how fast a run computes, never what it computes.
  static const char* const kFree[] = {"run.threads",    "run.output_dir",          "loader.workers",
                                      "loader.prefetch", "face.cache_dir",          "dist.backend",
                                      "dist.timeout_s",  "dist.rendezvous_timeout_s", "dist.bucket_mb",
                                      "input.max_pixels"};
  auto is_free = [](const std::string& key) {
    return std::find(std::begin(kFree), std::end(kFree), key) != std::end(kFree);
  };
  return RunSetup(make_schema(), [&](const ConfigSchema& schema) {
    const Config saved = load_config(schema, saved_file);
    Config resumed = load_config(schema, saved_file, overrides);
    const Config given = config_file.empty() ? resumed : load_config(schema, config_file, overrides);
    std::string conflicts;
    for (const auto& option : schema.options()) {
      if (is_free(option.key)) continue;
      const std::string was = format_value(saved.get(option.key)), now = format_value(given.get(option.key));
      if (was != now)
        conflicts += "\n  " + option.key + ": the run has " + was + ", " +
                     (given.source(option.key) == "command line" || config_file.empty() ? std::string("the command line")
                                                                                     : given.source(option.key)) +
                     " gives " + now;
    }
    if (!conflicts.empty())
      throw ConfigError("--resume " + run_dir.string() + ": the run's config.yaml and the given settings disagree " +
                        "(resume with --resume alone, or start a new run):" + conflicts);
    for (const auto& option : schema.options())  // the free settings as given now
      if (is_free(option.key) && option.key != "run.output_dir")
        resumed.set_from_text(option.key, format_value(given.get(option.key)), given.source(option.key));
    resumed.set_from_text("run.output_dir", format_value(ConfigValue(run_dir.string())), "--resume");
    return resumed;
  });
}

RunSetup RunSetup::from_text(const std::string& yaml, const std::string& source, const std::vector<std::string>& overrides) {
  return RunSetup(make_schema(), [&](const ConfigSchema& schema) {
    Config c = load_config_text(schema, yaml, source);
    for (const auto& o : overrides) c.apply_override(o);
    return c;
  });
}

void RunSetup::join_job() {
  const auto env = dist_env_from_environment();
  if (!env || group_) return;
  group_ = ProcessGroup::connect(*env, dist_options(config_), config_.get_string("train.device") == "cuda");
  if (!group_->is_main()) configure_logging(-1);  // rank 0 speaks for the job
}

bool RunSetup::is_main() const { return !group_ || group_->is_main(); }

void RunSetup::finish_job() const {
  if (group_) group_->finish();
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

Dataset RunSetup::faces(const Dataset& data, bool progress) const { return faces(data, progress, config_); }

Dataset RunSetup::faces(const Dataset& data, bool progress, const Config& pipeline) const {
  if (!pipeline.get_bool("input.align")) return data;
  // Faces first: every image becomes its aligned chip, cached on disk.
  FaceAligner aligner(face_options(pipeline));
  AlignRunOptions run;
  run.workers = available_cores();  // one image per core (bench_face: faster than cores per image)
  run.progress = progress && ProgressBar::terminal_attached();
  run.progress_label = "align faces";
  run.max_pixels = config_.get_int("input.max_pixels");
  // In a data-parallel job each rank aligns a share into the shared cache.
  return align_with_cache_shared(data, aligner, config_.get_string("face.cache_dir"), run, group_.get());
}

RunSetup::EvalModel RunSetup::eval_model(const std::string& weights, PipelineConflicts conflicts) const {
  if (weights.empty()) {
    // Seeded, so that a randomly initialised model is the same in every evaluation.
    torch::manual_seed(static_cast<uint64_t>(config_.get_int("run.seed")));
    EvalModel m{build_model(config_, 0), std::make_unique<Config>(config_)};
    m.model->eval();
    return m;
  }
  LoadedModel loaded = load_model_checkpoint(weights, *schema_);
  spdlog::info("model from {} (trained {} epochs on {} identities)", weights, loaded.info.epoch, loaded.info.identities.size());
  return EvalModel{loaded.model, std::make_unique<Config>(with_checkpoint_pipeline(config_, loaded.config, weights, conflicts))};
}

torch::Tensor RunSetup::features(ReidModel& model, const Config& model_config, const Dataset& data, bool progress) const {
  ExtractOptions o = extract_options(config_);
  o.device = model->parameters().empty() ? torch::Device(torch::kCPU) : model->parameters().front().device();
  o.group = group_.get();
  progress = progress && is_main();
  auto extract = [&](const Dataset& d, const char* label) {
    ProgressBar bar(d.size(), label, progress);
    return extract_features(model, d, make_transforms(model_config, false), o,
                            [&](std::size_t done) { bar.advance(done - bar.count()); });
  };
  torch::Tensor chips = extract(data, "extract");
  const std::string whole = config_.get_string("test.whole_image");
  if (whole == "none" || !model_config.get_bool("input.align")) return chips;
  // A second view: the whole image each chip was cut from.
  std::vector<ImageRecord> originals = data.records();
  for (auto& r : originals) r.path = r.source_path();
  const torch::Tensor images = extract(Dataset(std::move(originals), data.origin()), "extract whole");
  if (!is_main()) return torch::Tensor();
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

Dataset RunSetup::split_data(const SplitRequest& args) const {
  if (args.query_split.empty())
    return select_split(open_data(args.data), args.split.empty() ? config_.get_string("data.test_split") : args.split);
  // The records of both splits, queries first in file order; one custom direction.
  Dataset all = open_data(args.data);
  std::vector<ImageRecord> records;
  for (const std::string& s : {args.query_split, args.gallery_split}) {
    const Dataset part = all.split(s);  // named: records() refers into it
    records.insert(records.end(), part.records().begin(), part.records().end());
  }
  return Dataset(std::move(records), all.origin());
}

SplitRetrieval RunSetup::retrieve_split(const SplitRequest& args, const std::string& weights, bool progress,
                                        PipelineConflicts conflicts) const {
  SplitRetrieval r;
  r.data = split_data(args);
  // Saved features stand for the images as they were extracted: nothing to align.
  if (!args.features.empty()) {
    r.features = read_matrix(args.features).to(torch::kFloat);
    if (r.features.dim() != 2 || r.features.size(0) != static_cast<int64_t>(r.data.size()))
      throw DataError(args.features + ": " + std::to_string(r.features.size(0)) + " feature rows for the " +
                      std::to_string(r.data.size()) + " records selected from " + r.data.origin());
    r.model = "features " + args.features;
  } else {
    auto m = eval_model(weights, conflicts);
    r.data = faces(r.data, progress, *m.model_config);
    r.model = weights.empty() ? "pretrained initialisation (" + config_.get_string("model.backbone") + ")" : weights;
    r.features = features(m.model, *m.model_config, r.data, progress);
    if (!r.features.defined()) return r;  // a data-parallel rank other than 0: rank 0 ranks
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
  const torch::Tensor f = features(model, model_config, data, progress);
  if (!f.defined()) return {};  // a data-parallel rank other than 0
  return summarise(retrieve(f, data));
}

}  // namespace toonreid
