#include "retrieval/open_set_score.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <set>

#include "core/atomic_file.h"
#include "core/base64.h"
#include "core/config.h"
#include "core/error.h"
#include "retrieval/distance.h"

namespace toonreid {

ScoreNormalization parse_score_normalization(const std::string& name) {
  if (name == "none") return ScoreNormalization::None;
  if (name == "znorm") return ScoreNormalization::ZNorm;
  if (name == "snorm") return ScoreNormalization::SNorm;
  if (name == "ratio") return ScoreNormalization::Ratio;
  throw ConfigError("score normalisation '" + name + "': expected none, znorm, snorm or ratio");
}

const char* score_normalization_name(ScoreNormalization n) {
  switch (n) {
    case ScoreNormalization::None: return "none";
    case ScoreNormalization::ZNorm: return "znorm";
    case ScoreNormalization::SNorm: return "snorm";
    case ScoreNormalization::Ratio: return "ratio";
  }
  return "?";
}

IdentityAggregation parse_identity_aggregation(const std::string& name) {
  if (name == "best") return IdentityAggregation::Best;
  if (name == "mean_top") return IdentityAggregation::MeanTop;
  throw ConfigError("identity score '" + name + "': expected best or mean_top");
}

const char* identity_aggregation_name(IdentityAggregation a) { return a == IdentityAggregation::Best ? "best" : "mean_top"; }

std::string ScoreOptions::describe() const {
  std::string s = score_normalization_name(normalization);
  if (needs_cohort()) s += " (K " + std::to_string(cohort_top_k) + ")";
  if (aggregation == IdentityAggregation::Best || top_m <= 1) return s + ", best image per identity";
  return s + ", mean of the " + std::to_string(top_m) + " best images per identity";
}

nlohmann::json ScoreOptions::to_json() const {
  return {{"normalization", score_normalization_name(normalization)},
          {"cohort_top_k", cohort_top_k},
          {"aggregation", identity_aggregation_name(aggregation)},
          {"top_m", top_m}};
}

ScoreOptions ScoreOptions::from_json(const nlohmann::json& j, const std::string& where) {
  try {
    ScoreOptions o;
    o.normalization = parse_score_normalization(j.at("normalization").get<std::string>());
    o.cohort_top_k = j.at("cohort_top_k").get<int>();
    o.aggregation = parse_identity_aggregation(j.at("aggregation").get<std::string>());
    o.top_m = j.at("top_m").get<int>();
    if (o.cohort_top_k < 1 || o.top_m < 1) throw Error("cohort_top_k and top_m must be at least 1");
    return o;
  } catch (const std::exception& e) {
    throw Error(where + ": score settings: " + e.what());
  }
}

void add_open_set_options(ConfigSchema& schema) {
  schema.describe_section("open_set",
                          "Open-set use: the scores that decide 'match' or 'unknown' (eval --open-set, calibrate, "
                          "index build --calibration) and the open-set evaluation's split.");
  // Defaults: chosen on CaVI's validation identities (docs/open_set.md), for the pretrained
  // and the fine-tuned network alike.
  schema.add_string("open_set.normalization", "snorm",
                    "Image score: none (the distance), znorm (query-side adaptive Z-norm against the cohort), snorm "
                    "(two-sided cohort mean), ratio (best identity / second; not calibratable)")
      .one_of({"none", "znorm", "snorm", "ratio"});
  schema.add_int("open_set.cohort_top_k", 30, "znorm / snorm: the K nearest cohort images per side").range(1, 100000);
  schema.add_string("open_set.aggregation", "mean_top",
                    "Identity score: its best image (best) or the mean of its top_m best images (mean_top)")
      .one_of({"best", "mean_top"});
  schema.add_int("open_set.top_m", 3, "mean_top: images averaged per identity").range(1, 1000);
  schema.add_string("open_set.cohort_split", "",
                    "Where cohort faces come from: a split of the data set (default: the training split without the "
                    "validation identities)");
  schema.add_int("open_set.cohort_size", 2000, "Most cohort images per domain (a seeded sample above it)").range(10, 1000000);
  schema.add_float("open_set.enrolled_fraction", 0.5, "eval --open-set: the fraction of the identities enrolled")
      .greater_than(0).max(0.99);
  schema.add_int("open_set.repeats", 1, "eval --open-set: seeded enrolment splits averaged").range(1, 1000);
  schema.add_int("open_set.seed", 0, "eval --open-set: seed of the first enrolment split").min(0);
  schema.add_float_list("open_set.fars", {1e-4, 1e-3, 1e-2, 1e-1}, "Verification: false accept rates reported and calibrated")
      .non_empty();
  schema.add_float_list("open_set.fpirs", {0.01, 0.05, 0.1, 0.3}, "Identification: false positive identification rates")
      .non_empty();
}

ScoreOptions score_options(const Config& c) {
  ScoreOptions o;
  o.normalization = parse_score_normalization(c.get_string("open_set.normalization"));
  o.cohort_top_k = static_cast<int>(c.get_int("open_set.cohort_top_k"));
  o.aggregation = parse_identity_aggregation(c.get_string("open_set.aggregation"));
  o.top_m = static_cast<int>(c.get_int("open_set.top_m"));
  return o;
}

int64_t Cohort::size() const {
  return (photo.defined() ? photo.size(0) : 0) + (cartoon.defined() ? cartoon.size(0) : 0);
}

CohortStats cohort_stats(const torch::Tensor& x, const torch::Tensor& cohort, int k) {
  if (!cohort.defined() || cohort.size(0) == 0) throw Error("cohort normalisation: the cohort has no images of that domain");
  if (x.dim() != 2 || cohort.dim() != 2 || x.size(1) != cohort.size(1))
    throw Error("cohort normalisation: embeddings of size " + std::to_string(x.size(-1)) + " against a cohort of size " +
                std::to_string(cohort.size(-1)));
  const int64_t n = x.size(0), kk = std::min<int64_t>(std::max(1, k), cohort.size(0));
  CohortStats s{torch::empty({n}), torch::empty({n})};
  if (n == 0) return s;
  float* mean = s.mean.data_ptr<float>();
  float* stdev = s.stdev.data_ptr<float>();
  for_each_distance_block(x, cohort, DistanceKind::Euclidean, block_rows_for(cohort.size(0)),
                          [&](int64_t first, const torch::Tensor& block) {
                            const torch::Tensor nearest = std::get<0>(block.topk(kk, 1, /*largest=*/false, /*sorted=*/false));
                            const torch::Tensor m = nearest.mean(1), sd = nearest.std(1, /*unbiased=*/false);
                            std::copy(m.data_ptr<float>(), m.data_ptr<float>() + m.size(0), mean + first);
                            std::copy(sd.data_ptr<float>(), sd.data_ptr<float>() + sd.size(0), stdev + first);
                          });
  return s;
}

torch::Tensor image_scores(const torch::Tensor& d, const ScoreOptions& o, const CohortStats* q, const CohortStats* g) {
  const torch::Tensor dist = d.to(torch::kFloat);
  if (o.normalization == ScoreNormalization::ZNorm) {
    if (!q) throw Error("znorm: needs the queries' cohort statistics");
    return (dist - q->mean.unsqueeze(1)) / q->stdev.clamp_min(1e-6).unsqueeze(1);
  }
  if (o.normalization == ScoreNormalization::SNorm) {
    if (!q || !g) throw Error("snorm: needs the cohort statistics of the queries and of the gallery");
    return dist - 0.5f * (q->mean.unsqueeze(1) + g->mean.unsqueeze(0));
  }
  return dist;
}

float aggregate_identity(std::vector<float> v, const ScoreOptions& o) {
  if (v.empty()) throw Error("identity score: no image scores");
  const std::size_t take =
      o.aggregation == IdentityAggregation::Best ? 1 : std::min<std::size_t>(static_cast<std::size_t>(std::max(1, o.top_m)), v.size());
  std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(take), v.end());
  double sum = 0;
  for (std::size_t t = 0; t < take; ++t) sum += v[t];
  return static_cast<float>(sum / static_cast<double>(take));
}

IdentityScores identity_scores(const torch::Tensor& image_scores_in, const std::vector<int>& gallery_labels,
                               const std::vector<int>& keep, const ScoreOptions& options) {
  if (image_scores_in.dim() != 2 || image_scores_in.size(1) != static_cast<int64_t>(gallery_labels.size()))
    throw Error("identity scores: image scores must be [Q, " + std::to_string(gallery_labels.size()) + "]");
  const torch::Tensor s = image_scores_in.to(torch::kFloat).contiguous();
  const std::set<int> wanted(keep.begin(), keep.end());
  std::map<int, std::vector<int64_t>> columns;
  for (std::size_t j = 0; j < gallery_labels.size(); ++j)
    if (wanted.count(gallery_labels[j])) columns[gallery_labels[j]].push_back(static_cast<int64_t>(j));
  IdentityScores out;
  for (const auto& [label, cols] : columns) out.labels.push_back(label);
  const int64_t q = s.size(0), e = static_cast<int64_t>(out.labels.size()), g = s.size(1);
  out.scores = torch::empty({q, e}, torch::kFloat);
  const float* in = s.data_ptr<float>();
  float* o = out.scores.data_ptr<float>();
  const bool ratio = options.normalization == ScoreNormalization::Ratio;
  at::parallel_for(0, q, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> v;
    for (int64_t i = begin; i < end; ++i) {
      const float* row = in + i * g;
      float* out_row = o + i * e;
      int64_t k = 0;
      for (const auto& [label, cols] : columns) {
        v.clear();
        for (int64_t c : cols) v.push_back(row[c]);
        out_row[k++] = aggregate_identity(v, options);
      }
      if (ratio && e > 1) {
        // Every identity over the best other one: the best gets best / second, the rest >= 1.
        float a = std::numeric_limits<float>::infinity(), b = a;
        for (int64_t j = 0; j < e; ++j) {
          if (out_row[j] < a) b = a, a = out_row[j];
          else if (out_row[j] < b) b = out_row[j];
        }
        for (int64_t j = 0; j < e; ++j) out_row[j] /= std::max(out_row[j] == a ? b : a, 1e-6f);
      }
    }
  });
  return out;
}

NonMatedModel::NonMatedModel(const std::vector<std::vector<float>>& non_mated) {
  for (const auto& scores : non_mated) {
    if (scores.size() < 2) continue;
    double sum = 0, sq = 0;
    for (float x : scores) {
      if (!std::isfinite(x)) throw Error("calibration: a non-mated score is not finite");
      sum += x;
    }
    const double n = static_cast<double>(scores.size()), m = sum / n;
    for (float x : scores) sq += (x - m) * (x - m);
    const double sd = std::sqrt(sq / n);
    if (!(sd > 1e-9)) continue;
    mean_.push_back(static_cast<float>(m));
    stdev_.push_back(static_cast<float>(sd));
    for (float x : scores) residuals_.push_back(static_cast<float>((x - m) / sd));
  }
  if (mean_.empty()) throw Error("calibration: no query has two or more distinct non-mated scores");
  std::sort(residuals_.begin(), residuals_.end());
}

double NonMatedModel::fpir(double t, int64_t identities) const {
  if (mean_.empty()) throw Error("calibration: empty non-mated model");
  const double n = static_cast<double>(std::max<int64_t>(1, identities)), r = static_cast<double>(residuals_.size());
  double sum = 0;
  for (std::size_t q = 0; q < mean_.size(); ++q) {
    const double z = (t - mean_[q]) / stdev_[q];
    const double below = static_cast<double>(
        std::lower_bound(residuals_.begin(), residuals_.end(), z, [](float a, double b) { return a < b; }) - residuals_.begin());
    // 1 - (1 - F)^N, accurate for small F.
    sum += -std::expm1(n * std::log1p(-std::min(below / r, 1.0 - 1e-15)));
  }
  return sum / static_cast<double>(mean_.size());
}

double NonMatedModel::threshold(double target, int64_t identities) const {
  if (mean_.empty()) throw Error("calibration: empty non-mated model");
  if (target >= 1) return std::numeric_limits<double>::infinity();
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (std::size_t q = 0; q < mean_.size(); ++q) {
    lo = std::min(lo, mean_[q] + stdev_[q] * static_cast<double>(residuals_.front()));
    hi = std::max(hi, mean_[q] + stdev_[q] * static_cast<double>(residuals_.back()) + 1e-6);
  }
  if (fpir(hi, identities) <= target) return hi;
  // lo accepts nothing (every residual >= the smallest): FPIR(lo) = 0 <= target.
  for (int i = 0; i < 60 && hi - lo > 1e-7; ++i) {
    const double mid = 0.5 * (lo + hi);
    (fpir(mid, identities) <= target ? lo : hi) = mid;
  }
  return lo;
}

nlohmann::json NonMatedModel::to_json() const {
  return {{"query_mean", mean_}, {"query_stdev", stdev_}, {"residuals", residuals_}};
}

NonMatedModel NonMatedModel::from_json(const nlohmann::json& j, const std::string& where) {
  NonMatedModel m;
  try {
    m.mean_ = j.at("query_mean").get<std::vector<float>>();
    m.stdev_ = j.at("query_stdev").get<std::vector<float>>();
    m.residuals_ = j.at("residuals").get<std::vector<float>>();
  } catch (const std::exception& e) {
    throw Error(where + ": identification model: " + e.what());
  }
  if (m.mean_.empty() || m.mean_.size() != m.stdev_.size() || m.residuals_.empty())
    throw Error(where + ": identification model: empty or inconsistent");
  for (float s : m.stdev_)
    if (!(s > 0) || !std::isfinite(s)) throw Error(where + ": identification model: a deviation is not positive");
  if (!std::is_sorted(m.residuals_.begin(), m.residuals_.end())) throw Error(where + ": identification model: residuals unsorted");
  return m;
}

const DirectionCalibration& Calibration::direction(Domain gallery_domain) const {
  for (const auto& d : directions)
    if (d.gallery_domain == gallery_domain) return d;
  throw Error(std::string("calibration: nothing for a gallery of ") + domain_name(gallery_domain) + "s");
}

namespace {

// Matrices as base64 of little-endian float32 (compact and exact).
nlohmann::json matrix_json(const torch::Tensor& m) {
  if (!m.defined() || m.size(0) == 0) return nullptr;
  const torch::Tensor c = m.to(torch::kFloat).contiguous();
  return {{"rows", c.size(0)}, {"dim", c.size(1)},
          {"float32_base64", base64_encode(reinterpret_cast<const std::uint8_t*>(c.data_ptr<float>()), static_cast<std::size_t>(c.numel()) * 4)}};
}

torch::Tensor matrix_from(const nlohmann::json& j, const std::string& where) {
  if (j.is_null()) return {};
  const int64_t rows = j.at("rows").get<int64_t>(), dim = j.at("dim").get<int64_t>();
  const auto bytes = base64_decode(j.at("float32_base64").get<std::string>(), where);
  if (rows < 0 || dim <= 0 || static_cast<int64_t>(bytes.size()) != rows * dim * 4)
    throw Error(where + ": a " + std::to_string(rows) + " x " + std::to_string(dim) + " matrix in " +
                std::to_string(bytes.size()) + " bytes");
  torch::Tensor t = torch::empty({rows, dim});
  std::memcpy(t.data_ptr<float>(), bytes.data(), bytes.size());
  if (!torch::isfinite(t).all().item<bool>()) throw Error(where + ": cohort vectors are not finite");
  return t;
}

}  // namespace

nlohmann::json Calibration::to_json() const {
  nlohmann::json dirs = nlohmann::json::array();
  for (const auto& d : directions) {
    nlohmann::json far = nlohmann::json::array();
    for (const auto& f : d.far)
      far.push_back({{"far", f.far}, {"threshold", std::isfinite(f.threshold) ? nlohmann::json(f.threshold) : nlohmann::json(nullptr)},
                     {"impostor_pairs", f.impostor_pairs}, {"supported", f.supported}});
    dirs.push_back({{"query_domain", domain_name(d.query_domain)}, {"gallery_domain", domain_name(d.gallery_domain)},
                    {"queries", d.queries}, {"identities", d.identities}, {"verification", far},
                    {"identification", d.identification.to_json()}});
  }
  return {{"format", "toonreid calibration 1"},
          {"fingerprint", fingerprint},
          {"weights", weights},
          {"source", source},
          {"score", score.to_json()},
          {"cohort", {{"photo", matrix_json(cohort.photo)}, {"cartoon", matrix_json(cohort.cartoon)}}},
          {"directions", dirs}};
}

Calibration Calibration::from_json(const nlohmann::json& j, const std::string& where) {
  Calibration c;
  try {
    if (j.value("format", std::string()) != "toonreid calibration 1")
      throw Error("not a toonreid calibration (format '" + j.value("format", std::string()) + "')");
    c.fingerprint = j.at("fingerprint").get<std::string>();
    c.weights = j.value("weights", std::string());
    c.source = j.value("source", std::string());
    c.score = ScoreOptions::from_json(j.at("score"), where);
    c.cohort.photo = matrix_from(j.at("cohort").at("photo"), where + ": photo cohort");
    c.cohort.cartoon = matrix_from(j.at("cohort").at("cartoon"), where + ": cartoon cohort");
    for (const auto& d : j.at("directions")) {
      DirectionCalibration dc;
      dc.query_domain = parse_domain(d.at("query_domain").get<std::string>());
      dc.gallery_domain = parse_domain(d.at("gallery_domain").get<std::string>());
      dc.queries = d.at("queries").get<std::size_t>();
      dc.identities = d.at("identities").get<std::size_t>();
      for (const auto& f : d.at("verification"))
        dc.far.push_back({f.at("far").get<double>(),
                          f.at("threshold").is_null() ? std::numeric_limits<double>::infinity() : f.at("threshold").get<double>(),
                          f.at("impostor_pairs").get<std::size_t>(), f.at("supported").get<bool>()});
      dc.identification = NonMatedModel::from_json(d.at("identification"), where);
      c.directions.push_back(std::move(dc));
    }
  } catch (const Error& e) {
    throw Error(std::string(e.what()).rfind(where, 0) == 0 ? e.what() : where + ": " + e.what());
  } catch (const std::exception& e) {
    throw Error(where + ": " + e.what());
  }
  if (c.directions.empty()) throw Error(where + ": no direction calibrated");
  if (c.score.needs_cohort()) {
    for (const auto& d : c.directions)
      if (!c.cohort.of(d.query_domain).defined() || !c.cohort.of(d.gallery_domain).defined())
        throw Error(where + ": " + score_normalization_name(c.score.normalization) + " needs cohort images of both domains");
  }
  return c;
}

Calibration Calibration::load(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw Error(file.string() + ": cannot read the calibration");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw Error(file.string() + ": not JSON (" + std::string(e.what()).substr(0, 120) + ")");
  }
  return from_json(j, file.string());
}

void Calibration::save(const std::filesystem::path& file) const { write_file_atomically(file, to_json().dump() + "\n"); }

}  // namespace toonreid
