#include "recipe/open_set_run.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

#include "core/error.h"
#include "core/random.h"
#include "data/training_selection.h"
#include "retrieval/postprocess.h"
#include "serve/embedder.h"

namespace toonreid {

namespace {

std::vector<Domain> domains_of(const Dataset& d) {
  std::vector<Domain> out;
  for (const auto& r : d.records()) out.push_back(r.domain);
  return out;
}

std::set<std::string> identities_of(const Dataset& d) {
  const auto v = d.identities();
  return std::set<std::string>(v.begin(), v.end());
}

}  // namespace

Cohort embed_cohort(const RunSetup& run, const Dataset& all, const std::set<std::string>& exclude, const EmbedFunction& embed) {
  const Config& c = run.config();
  Cohort cohort;
  if (!score_options(c).needs_cohort()) return cohort;
  const std::string split = c.get_string("open_set.cohort_split");
  Dataset source;
  if (!split.empty()) {
    source = all.split(split);
  } else {
    // The training split without the validation identities.
    const Dataset train = all.split(c.get_string("data.train_split"));
    const Dataset held_out = validation_data(all, c);
    std::set<std::string> val = identities_of(held_out);
    std::vector<ImageRecord> keep;
    for (const auto& r : train.records())
      if (!val.count(r.identity)) keep.push_back(r);
    source = Dataset(std::move(keep), train.origin());
  }
  const auto limit = static_cast<std::size_t>(c.get_int("open_set.cohort_size"));
  std::vector<ImageRecord> chosen;
  for (Domain d : {Domain::Photo, Domain::Cartoon}) {
    std::vector<ImageRecord> pool;
    for (const auto& r : source.records())
      if (r.domain == d && !exclude.count(r.identity)) pool.push_back(r);
    // A seeded sample above the limit (our own shuffle: the same on every machine).
    for (std::size_t i = pool.size(); i > 1; --i)
      std::swap(pool[i - 1], pool[derive_seed(static_cast<std::uint64_t>(c.get_int("run.seed")), {0xc0407ULL, i}) % i]);
    if (pool.size() > limit) pool.resize(limit);
    chosen.insert(chosen.end(), pool.begin(), pool.end());
  }
  std::size_t photos = 0;
  for (const auto& r : chosen) photos += r.domain == Domain::Photo;
  if (photos == 0 || photos == chosen.size())
    throw Error("open-set: the " + std::string(score_normalization_name(score_options(c).normalization)) +
                " score needs cohort photos and cartoons of people outside the evaluated split; " + source.origin() +
                (split.empty() ? " (training split less the validation identities)" : " split '" + split + "'") + " has " +
                std::to_string(photos) + " photos and " + std::to_string(chosen.size() - photos) +
                " cartoons of other people (set open_set.cohort_split)");
  spdlog::info("open-set cohort: {} photos and {} cartoons of identities outside the evaluated split", photos,
               chosen.size() - photos);
  const Dataset data(chosen, source.origin());
  const torch::Tensor f = embed(data);
  std::vector<int64_t> p, k;
  for (std::size_t i = 0; i < chosen.size(); ++i) (chosen[i].domain == Domain::Photo ? p : k).push_back(static_cast<int64_t>(i));
  const torch::Tensor unit = f / f.norm(2, 1, true).clamp_min(1e-12);
  cohort.photo = unit.index_select(0, torch::tensor(p, torch::kLong)).contiguous();
  cohort.cartoon = unit.index_select(0, torch::tensor(k, torch::kLong)).contiguous();
  return cohort;
}

OpenSetEvalOptions open_set_eval_options(const Config& c) {
  OpenSetEvalOptions o;
  o.score = score_options(c);
  o.enrolled_fraction = c.get_float("open_set.enrolled_fraction");
  o.repeats = static_cast<int>(c.get_int("open_set.repeats"));
  o.seed = static_cast<std::uint64_t>(c.get_int("open_set.seed"));
  o.fars = c.get_float_list("open_set.fars");
  o.fpirs = c.get_float_list("open_set.fpirs");
  for (double f : o.fars)
    if (!(f > 0 && f <= 1)) throw ConfigError(c.describe("open_set.fars") + ": every FAR must be in (0, 1]");
  for (double f : o.fpirs)
    if (!(f > 0 && f <= 1)) throw ConfigError(c.describe("open_set.fpirs") + ": every FPIR must be in (0, 1]");
  return o;
}

std::vector<DirectionOpenSet> evaluate_open_set(const RunSetup& run, const SplitRetrieval& r, const SplitRequest& request,
                                                const std::string& weights, const Calibration* calibration, bool progress) {
  OpenSetEvalOptions o = open_set_eval_options(run.config());
  if (calibration) {
    // The calibration decides how scores are computed: the same as it was made with.
    if (o.score.to_json() != calibration->score.to_json())
      spdlog::info("open-set: scores as the calibration computes them: {}", calibration->score.describe());
    o.score = calibration->score;
    o.calibration = calibration;
  }
  const RetrievalOptions retrieval = retrieval_options(run.config());
  o.distances = [retrieval](const at::Tensor& q, const at::Tensor& g) { return retrieval_distances(q, g, retrieval).distances; };
  Cohort cohort;
  if (calibration && o.score.needs_cohort()) {
    cohort = calibration->cohort;
  } else if (o.score.needs_cohort()) {
    if (r.model.rfind("features ", 0) == 0)
      throw Error("open-set: the " + std::string(score_normalization_name(o.score.normalization)) +
                  " score embeds a cohort with the model; give --weights (or none for the pretrained network), not --features");
    auto m = run.eval_model(weights);
    const Dataset all = run.open_data(request.data);
    cohort = embed_cohort(run, all, identities_of(r.data), [&](const Dataset& d) {
      return run.features(m.model, *m.model_config, run.faces(d, progress, *m.model_config), progress);
    });
  }
  std::vector<DirectionOpenSet> out;
  const std::vector<Domain> domains = domains_of(r.data);
  for (const auto& d : r.directions) out.push_back(evaluate_open_set_direction(d, r.features, domains, &cohort, o));
  return out;
}

Calibration calibrate_model(const RunSetup& run, Embedder& embedder, const SplitRequest& request, bool progress,
                            bool allow_test) {
  const Config& c = run.config();
  SplitRequest req = request;
  if (req.split.empty()) req.split = "validation";
  if (req.split == "validation" && c.get_int("data.val_identities") == 0)
    throw ConfigError("calibrate: no validation identities (data.val_identities is 0): hold some out of training, or name "
                      "a split of people the model was not trained on with --split");
  if (req.split == c.get_string("data.test_split") && !allow_test)
    throw ConfigError("calibrate: '" + req.split + "' is the test split; thresholds come from validation identities, "
                      "and the test split is for reported figures only");
  const ScoreOptions score = score_options(c);
  if (!score.calibratable())
    throw ConfigError(c.describe("open_set.normalization") + ": a ratio score depends on the whole gallery and cannot be "
                      "calibrated (choose none, znorm or snorm)");
  const Dataset data = run.split_data(req);
  spdlog::info("calibrating on {} ({} images of {} identities)", data.origin(), data.size(), data.identities().size());
  const torch::Tensor features = embedder.embed(data, progress);
  const Dataset all = run.open_data(req.data);
  Calibration cal;
  cal.fingerprint = embedder.fingerprint();
  cal.source = data.origin() + " split '" + req.split + "'";
  cal.score = score;
  cal.cohort = embed_cohort(run, all, identities_of(data), [&](const Dataset& d) { return embedder.embed(d, progress); });
  const std::vector<Domain> domains = domains_of(data);
  for (const auto& d : cross_domain_directions(data))
    cal.directions.push_back(calibrate_direction(d, features, domains, &cal.cohort, score, c.get_float_list("open_set.fars")));
  return cal;
}

std::string describe_calibration(const Calibration& c) {
  std::string out = "calibration of model " + c.fingerprint + " on " + c.source + "\nscore: " + c.score.describe() + "\n";
  char buf[256];
  for (const auto& d : c.directions) {
    std::snprintf(buf, sizeof buf, "%s queries against a %s gallery: %zu queries, %zu identities\n", domain_name(d.query_domain),
                  domain_name(d.gallery_domain), d.queries, d.identities);
    out += buf;
    for (const auto& f : d.far) {
      std::snprintf(buf, sizeof buf, "  FAR %-7g threshold %.4f (%zu impostor pairs%s)\n", f.far, f.threshold, f.impostor_pairs,
                    f.supported ? "" : ", too few for this FAR");
      out += buf;
    }
    out += "  FPIR thresholds by gallery size:        10 ids     100 ids    1000 ids\n";
    for (double fpir : {0.01, 0.1}) {
      std::snprintf(buf, sizeof buf, "  FPIR %-5g                            %9.4f  %9.4f  %9.4f\n", fpir,
                    d.identification.threshold(fpir, 10), d.identification.threshold(fpir, 100),
                    d.identification.threshold(fpir, 1000));
      out += buf;
    }
  }
  return out;
}

}  // namespace toonreid
