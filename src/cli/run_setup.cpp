#include "cli/run_setup.h"

#include <spdlog/spdlog.h>

#include "toonreid_schema.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/runtime.h"
#include "data/transforms.h"
#include "retrieval/features.h"

namespace toonreid::cli {

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

RunSetup::EvalModel RunSetup::eval_model(const std::string& weights) const {
  if (weights.empty()) {
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
  ProgressBar bar(data.size(), "extract", progress);
  return extract_features(model, data, make_transforms(model_config, false), o,
                          [&](std::size_t done) { bar.advance(done - bar.count()); });
}

CrossDomainReport RunSetup::evaluate(ReidModel& model, const Config& model_config, const Dataset& data, bool progress) const {
  torch::Tensor f = features(model, model_config, data, progress);
  return evaluate_cross_domain(f, data, parse_distance(config_.get_string("test.distance")));
}

}  // namespace toonreid::cli
