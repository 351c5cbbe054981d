#include "eval/open_set.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <set>

#include "core/error.h"
#include "core/random.h"
#include "eval/cross_domain.h"
#include "retrieval/distance.h"

namespace toonreid {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

void check_finite(const std::vector<float>& v, const char* what) {
  for (float x : v)
    if (std::isnan(x)) throw Error(std::string(what) + ": scores contain NaN");
}

at::Tensor float_matrix(const at::Tensor& scores, std::size_t rows, std::size_t cols, const char* what) {
  if (scores.dim() != 2 || scores.size(0) != static_cast<int64_t>(rows) || scores.size(1) != static_cast<int64_t>(cols))
    throw Error(std::string(what) + ": scores must be [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
  return scores.to(at::kFloat).contiguous();
}

}  // namespace

FalseAlarmModel::FalseAlarmModel(std::vector<float> scores) : sorted_(std::move(scores)) {
  check_finite(sorted_, "false-alarm model");
  std::sort(sorted_.begin(), sorted_.end());
}

double FalseAlarmModel::threshold(double f) const {
  if (sorted_.empty()) throw Error("false-alarm model: no non-mated scores");
  const double n = static_cast<double>(sorted_.size());
  const auto k = static_cast<std::size_t>(std::floor(std::clamp(f, 0.0, 1.0) * n + 1e-9));
  return k >= sorted_.size() ? kInf : static_cast<double>(sorted_[k]);
}

std::size_t FalseAlarmModel::count_below(double t) const {
  return static_cast<std::size_t>(
      std::lower_bound(sorted_.begin(), sorted_.end(), t, [](float a, double b) { return a < b; }) - sorted_.begin());
}

double FalseAlarmModel::rate(double t) const {
  return sorted_.empty() ? 0.0 : static_cast<double>(count_below(t)) / static_cast<double>(sorted_.size());
}

double fraction_below(const std::vector<float>& sorted, double t) {
  if (sorted.empty()) return 0.0;
  const auto n = std::lower_bound(sorted.begin(), sorted.end(), t, [](float a, double b) { return a < b; }) - sorted.begin();
  return static_cast<double>(n) / static_cast<double>(sorted.size());
}

std::vector<double> curve_rates(std::size_t non_mated, int per_decade) {
  std::vector<double> out;
  if (non_mated == 0) return out;
  const double lo = std::log10(1.0 / static_cast<double>(non_mated));
  const int steps = std::max(1, static_cast<int>(std::ceil(-lo * per_decade)));
  for (int i = 0; i <= steps; ++i) out.push_back(std::pow(10.0, lo + (-lo) * i / steps));
  return out;
}

namespace {

OperatingPoint operating_point(const FalseAlarmModel& non_mated, double target,
                               const std::function<double(double)>& hit_at) {
  OperatingPoint p;
  p.target = target;
  p.threshold = non_mated.threshold(target);
  p.false_alarms = non_mated.count_below(p.threshold);
  p.false_alarm = non_mated.rate(p.threshold);
  p.hit = hit_at(p.threshold);
  p.supported = target * static_cast<double>(non_mated.size()) >= kMinFalseAlarms;
  return p;
}

std::vector<CurvePoint> curve(const FalseAlarmModel& non_mated, const std::function<double(double)>& hit_at) {
  std::vector<CurvePoint> out;
  double last = -1;
  for (double f : curve_rates(non_mated.size())) {
    const double t = non_mated.threshold(f);
    if (t == last) continue;  // the same threshold (ties, or f n rounding down alike)
    last = t;
    out.push_back({non_mated.rate(t), hit_at(t), t});
  }
  return out;
}

}  // namespace

VerificationMetrics evaluate_verification(const at::Tensor& scores_in, const std::vector<int>& query_labels,
                                          const std::vector<int>& gallery_labels, const std::vector<double>& fars) {
  const at::Tensor scores = float_matrix(scores_in, query_labels.size(), gallery_labels.size(), "verification");
  std::vector<float> genuine, impostor;
  impostor.reserve(static_cast<std::size_t>(scores.numel()));
  const float* s = scores.data_ptr<float>();
  const std::size_t g = gallery_labels.size();
  for (std::size_t i = 0; i < query_labels.size(); ++i)
    for (std::size_t j = 0; j < g; ++j) (query_labels[i] == gallery_labels[j] ? genuine : impostor).push_back(s[i * g + j]);
  if (genuine.empty() || impostor.empty())
    throw Error("verification: needs genuine and impostor pairs (" + std::to_string(genuine.size()) + " and " +
                std::to_string(impostor.size()) + ")");
  check_finite(genuine, "verification");
  std::sort(genuine.begin(), genuine.end());
  const FalseAlarmModel imp(std::move(impostor));
  VerificationMetrics m;
  m.genuine = genuine.size();
  m.impostor = imp.size();
  const auto tar = [&](double t) { return fraction_below(genuine, t); };
  for (double f : fars) m.at_far.push_back(operating_point(imp, f, tar));
  m.roc = curve(imp, tar);

  // AUC and EER in one merge of the two sorted lists. At a threshold just above value v
  // (everything <= v accepted): FAR = impostors <= v, FRR = genuine > v.
  const auto& is = imp.sorted();
  const double ng = static_cast<double>(genuine.size()), ni = static_cast<double>(is.size());
  double below_pairs = 0;  // sum over genuine of impostors strictly above it, ties half
  std::size_t a = 0, b = 0;
  double best_gap = kInf;
  // Threshold below every score: FAR 0, FRR 1.
  m.eer = 0.5, m.eer_threshold = std::min<double>(genuine.front(), is.front());
  best_gap = 1.0;
  while (a < genuine.size() || b < is.size()) {
    const float v = b >= is.size() || (a < genuine.size() && genuine[a] <= is[b]) ? genuine[a] : is[b];
    std::size_t a_end = a, b_end = b;
    while (a_end < genuine.size() && genuine[a_end] == v) ++a_end;
    while (b_end < is.size() && is[b_end] == v) ++b_end;
    const double eq_g = static_cast<double>(a_end - a), eq_i = static_cast<double>(b_end - b);
    below_pairs += eq_g * (static_cast<double>(is.size() - b_end) + 0.5 * eq_i);
    a = a_end, b = b_end;
    const double far = static_cast<double>(b) / ni, frr = 1.0 - static_cast<double>(a) / ng;
    if (std::abs(far - frr) < best_gap) {
      best_gap = std::abs(far - frr);
      m.eer = 0.5 * (far + frr);
      const double next = a < genuine.size() && (b >= is.size() || genuine[a] < is[b]) ? genuine[a]
                          : b < is.size()                                               ? is[b]
                                                                                        : kInf;
      m.eer_threshold = next == kInf ? static_cast<double>(v) : 0.5 * (static_cast<double>(v) + next);
    }
  }
  m.auc = below_pairs / (ng * ni);
  return m;
}

OpenSetSplit split_identities(const std::vector<int>& gallery_labels, double fraction, std::uint64_t seed) {
  std::set<int> unique(gallery_labels.begin(), gallery_labels.end());
  std::vector<int> ids(unique.begin(), unique.end());
  if (ids.size() < 2) throw Error("open-set split: the gallery needs at least 2 identities, it has " + std::to_string(ids.size()));
  if (!(fraction > 0 && fraction < 1)) throw Error("open-set split: the enrolled fraction must be in (0, 1)");
  // Fisher-Yates with our own mixer: the same order on every standard library.
  for (std::size_t i = ids.size() - 1; i > 0; --i) {
    const std::uint64_t r = derive_seed(seed, {0x6f70656eULL, i});
    std::swap(ids[i], ids[static_cast<std::size_t>(r % (i + 1))]);
  }
  const auto n = std::clamp<std::size_t>(static_cast<std::size_t>(std::llround(fraction * static_cast<double>(ids.size()))), 1,
                                         ids.size() - 1);
  OpenSetSplit s;
  s.enrolled.assign(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n));
  s.unenrolled.assign(ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end());
  std::sort(s.enrolled.begin(), s.enrolled.end());
  std::sort(s.unenrolled.begin(), s.unenrolled.end());
  return s;
}

BestCandidates best_candidates(const IdentityScores& s) {
  const at::Tensor m = s.scores.to(at::kFloat).contiguous();
  const int64_t q = m.size(0), e = m.size(1);
  if (e == 0) throw Error("identification: no enrolled identity");
  BestCandidates b;
  b.score.resize(static_cast<std::size_t>(q));
  b.label.resize(static_cast<std::size_t>(q));
  b.second.resize(static_cast<std::size_t>(q));
  const float* p = m.data_ptr<float>();
  for (int64_t i = 0; i < q; ++i) {
    float best = std::numeric_limits<float>::infinity(), second = best;
    int64_t arg = 0;
    for (int64_t j = 0; j < e; ++j) {
      const float v = p[i * e + j];
      if (std::isnan(v)) throw Error("identification: scores contain NaN");
      if (v < best) second = best, best = v, arg = j;
      else if (v < second) second = v;
    }
    b.score[static_cast<std::size_t>(i)] = best;
    b.label[static_cast<std::size_t>(i)] = s.labels[static_cast<std::size_t>(arg)];
    b.second[static_cast<std::size_t>(i)] = second;
  }
  return b;
}

OpenSetMetrics evaluate_open_set(const IdentityScores& s, const std::vector<int>& query_labels,
                                 const std::vector<double>& fpirs, std::size_t unenrolled) {
  if (s.scores.dim() != 2 || s.scores.size(0) != static_cast<int64_t>(query_labels.size()))
    throw Error("identification: " + std::to_string(query_labels.size()) + " query labels for " +
                std::to_string(s.scores.size(0)) + " score rows");
  const BestCandidates best = best_candidates(s);
  const std::set<int> enrolled(s.labels.begin(), s.labels.end());
  std::vector<float> non_mated, correct;  // best scores of non-mated queries; of mated queries identified right
  std::size_t mated = 0;
  for (std::size_t i = 0; i < query_labels.size(); ++i) {
    if (!enrolled.count(query_labels[i])) {
      non_mated.push_back(best.score[i]);
    } else {
      ++mated;
      if (best.label[i] == query_labels[i]) correct.push_back(best.score[i]);
    }
  }
  if (mated == 0 || non_mated.empty())
    throw Error("identification: needs mated and non-mated queries (" + std::to_string(mated) + " and " +
                std::to_string(non_mated.size()) + ")");
  std::sort(correct.begin(), correct.end());
  const FalseAlarmModel nm(std::move(non_mated));
  OpenSetMetrics m;
  m.enrolled = s.labels.size();
  m.unenrolled = unenrolled;
  m.mated = mated;
  m.non_mated = nm.size();
  m.rank1 = static_cast<double>(correct.size()) / static_cast<double>(mated);
  const auto dir = [&](double t) { return m.rank1 * fraction_below(correct, t); };
  for (double f : fpirs) m.at_fpir.push_back(operating_point(nm, f, dir));
  m.det = curve(nm, dir);
  return m;
}

namespace {

nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json curve_json(const std::vector<CurvePoint>& c) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : c) out.push_back({p.false_alarm, p.hit, number(p.threshold)});
  return out;
}

}  // namespace

nlohmann::json to_json(const OperatingPoint& p) {
  return {{"target", p.target},         {"threshold", number(p.threshold)}, {"realised", p.false_alarm},
          {"hit", p.hit},               {"false_alarms", p.false_alarms},   {"supported", p.supported}};
}

nlohmann::json to_json(const VerificationMetrics& m, bool with_curve) {
  nlohmann::json at = nlohmann::json::array();
  for (const auto& p : m.at_far) {
    nlohmann::json j = to_json(p);
    j["tar"] = p.hit;
    at.push_back(j);
  }
  nlohmann::json j = {{"genuine", m.genuine}, {"impostor", m.impostor}, {"auc", m.auc},
                      {"eer", m.eer},         {"eer_threshold", number(m.eer_threshold)}, {"at_far", at}};
  if (with_curve) j["roc"] = curve_json(m.roc);  // [FAR, TAR, threshold]
  return j;
}

nlohmann::json to_json(const OpenSetMetrics& m, bool with_curve) {
  nlohmann::json at = nlohmann::json::array();
  for (const auto& p : m.at_fpir) {
    nlohmann::json j = to_json(p);
    j["dir"] = p.hit;
    j["fnir"] = 1.0 - p.hit;
    at.push_back(j);
  }
  nlohmann::json j = {{"enrolled", m.enrolled}, {"unenrolled", m.unenrolled}, {"mated", m.mated},
                      {"non_mated", m.non_mated}, {"rank1", m.rank1},        {"at_fpir", at}};
  if (with_curve) j["det"] = curve_json(m.det);  // [FPIR, DIR, threshold]
  return j;
}

// ---- directions ----

namespace {

at::Tensor select_rows(const at::Tensor& features, const std::vector<std::size_t>& records) {
  std::vector<int64_t> idx(records.begin(), records.end());
  return features.index_select(0, torch::tensor(idx, torch::kLong));
}

Domain domain_of(const std::vector<std::size_t>& records, const std::vector<Domain>& domains, const std::string& what) {
  if (records.empty()) throw Error(what + ": no images");
  return domains.at(records.front());
}

// Mean of the trials' operating points, FPIR by FPIR.
std::vector<OperatingPoint> mean_points(const std::vector<std::vector<OperatingPoint>>& trials) {
  std::vector<OperatingPoint> out = trials.front();
  for (std::size_t k = 0; k < out.size(); ++k) {
    OperatingPoint m = out[k];
    m.threshold = m.false_alarm = m.hit = 0;
    m.false_alarms = 0;
    m.supported = true;
    for (const auto& t : trials) {
      m.threshold += t[k].threshold / static_cast<double>(trials.size());
      m.false_alarm += t[k].false_alarm / static_cast<double>(trials.size());
      m.hit += t[k].hit / static_cast<double>(trials.size());
      m.false_alarms += t[k].false_alarms;
      m.supported = m.supported && t[k].supported;
    }
    out[k] = m;
  }
  return out;
}

}  // namespace

DirectionCohortStats direction_cohort_stats(const at::Tensor& qf, const at::Tensor& gf, Domain query_domain,
                                            Domain gallery_domain, const Cohort* cohort, const ScoreOptions& score) {
  DirectionCohortStats s;
  if (!score.needs_cohort()) return s;
  if (!cohort || cohort->empty()) throw Error(std::string(score_normalization_name(score.normalization)) + ": needs a cohort");
  s.query = cohort_stats(qf, cohort->of(gallery_domain), score.cohort_top_k);
  if (score.normalization == ScoreNormalization::SNorm)
    s.gallery = cohort_stats(gf, cohort->of(query_domain), score.cohort_top_k);
  return s;
}

DirectionOpenSet evaluate_open_set_direction(const RetrievalDirection& d, const at::Tensor& features,
                                             const std::vector<Domain>& domains, const Cohort* cohort,
                                             const OpenSetEvalOptions& o) {
  DirectionOpenSet out;
  out.name = d.name;
  out.query_domain = domain_of(d.query_records, domains, d.name + " queries");
  out.gallery_domain = domain_of(d.gallery_records, domains, d.name + " gallery");
  const at::Tensor qf = select_rows(features, d.query_records), gf = select_rows(features, d.gallery_records);
  const DirectionCohortStats st = direction_cohort_stats(qf, gf, out.query_domain, out.gallery_domain, cohort, o.score);
  const auto scores_of = [&](const at::Tensor& distances, const CohortStats* gallery) {
    return image_scores(distances, o.score, st.query.mean.defined() ? &st.query : nullptr, gallery);
  };
  // Verification: every pair, image scores (a ratio is not a pair score: plain distances then).
  {
    const at::Tensor dist = d.distances.defined() ? d.distances : pairwise_distances(qf, gf, DistanceKind::Euclidean);
    out.verification = evaluate_verification(scores_of(dist, st.gallery.mean.defined() ? &st.gallery : nullptr),
                                             d.query_labels, d.gallery_labels, o.fars);
  }
  if (o.calibration && !o.score.calibratable())
    throw Error(std::string("open-set: a ") + score_normalization_name(o.score.normalization) +
                " score cannot use calibrated thresholds");
  std::vector<std::vector<OperatingPoint>> points, calibrated;
  for (int r = 0; r < std::max(1, o.repeats); ++r) {
    const OpenSetSplit split = split_identities(d.gallery_labels, o.enrolled_fraction, o.seed + static_cast<std::uint64_t>(r));
    const std::set<int> enrolled(split.enrolled.begin(), split.enrolled.end());
    std::vector<int64_t> cols;
    std::vector<int> labels;
    for (std::size_t j = 0; j < d.gallery_labels.size(); ++j)
      if (enrolled.count(d.gallery_labels[j])) cols.push_back(static_cast<int64_t>(j)), labels.push_back(d.gallery_labels[j]);
    const at::Tensor index = torch::tensor(cols, torch::kLong);
    const at::Tensor g = gf.index_select(0, index);
    const at::Tensor dist = o.distances ? o.distances(qf, g) : pairwise_distances(qf, g, DistanceKind::Euclidean);
    CohortStats gallery_stats;
    if (st.gallery.mean.defined()) gallery_stats = {st.gallery.mean.index_select(0, index), st.gallery.stdev.index_select(0, index)};
    const IdentityScores ids =
        identity_scores(scores_of(dist, gallery_stats.mean.defined() ? &gallery_stats : nullptr), labels, split.enrolled, o.score);
    out.trials.push_back(evaluate_open_set(ids, d.query_labels, o.fpirs, split.unenrolled.size()));
    points.push_back(out.trials.back().at_fpir);
    if (o.calibration) {
      const NonMatedModel& model = o.calibration->direction(out.gallery_domain).identification;
      const BestCandidates best = best_candidates(ids);
      std::vector<float> non_mated, correct;
      std::size_t mated = 0;
      for (std::size_t i = 0; i < d.query_labels.size(); ++i) {
        if (!enrolled.count(d.query_labels[i])) non_mated.push_back(best.score[i]);
        else if (++mated, best.label[i] == d.query_labels[i]) correct.push_back(best.score[i]);
      }
      std::sort(correct.begin(), correct.end());
      const FalseAlarmModel nm(std::move(non_mated));
      std::vector<OperatingPoint> cal;
      for (double f : o.fpirs) {
        OperatingPoint p;
        p.target = f;
        p.threshold = model.threshold(f, static_cast<int64_t>(split.enrolled.size()));
        p.false_alarms = nm.count_below(p.threshold);
        p.false_alarm = nm.rate(p.threshold);
        p.hit = static_cast<double>(correct.size()) / static_cast<double>(mated) * fraction_below(correct, p.threshold);
        p.supported = f * static_cast<double>(nm.size()) >= kMinFalseAlarms;
        cal.push_back(p);
      }
      calibrated.push_back(std::move(cal));
    }
  }
  out.mean = out.trials.front();
  out.mean.rank1 = 0;
  for (const auto& t : out.trials) out.mean.rank1 += t.rank1 / static_cast<double>(out.trials.size());
  out.mean.at_fpir = mean_points(points);
  if (!calibrated.empty()) out.calibrated = mean_points(calibrated);
  return out;
}

DirectionCalibration calibrate_direction(const RetrievalDirection& d, const at::Tensor& features,
                                         const std::vector<Domain>& domains, const Cohort* cohort,
                                         const ScoreOptions& score, const std::vector<double>& fars) {
  if (!score.calibratable())
    throw Error(std::string("calibrate: a ") + score_normalization_name(score.normalization) +
                " score depends on the whole gallery; choose none, znorm or snorm");
  DirectionCalibration c;
  c.query_domain = domain_of(d.query_records, domains, d.name + " queries");
  c.gallery_domain = domain_of(d.gallery_records, domains, d.name + " gallery");
  const at::Tensor qf = select_rows(features, d.query_records), gf = select_rows(features, d.gallery_records);
  const DirectionCohortStats st = direction_cohort_stats(qf, gf, c.query_domain, c.gallery_domain, cohort, score);
  const at::Tensor scores = image_scores(pairwise_distances(qf, gf, DistanceKind::Euclidean), score,
                                         st.query.mean.defined() ? &st.query : nullptr,
                                         st.gallery.mean.defined() ? &st.gallery : nullptr);
  // Verification thresholds over the impostor pairs.
  {
    const at::Tensor s = scores.contiguous();
    const float* p = s.data_ptr<float>();
    const std::size_t g = d.gallery_labels.size();
    std::vector<float> impostor;
    for (std::size_t i = 0; i < d.query_labels.size(); ++i)
      for (std::size_t j = 0; j < g; ++j)
        if (d.query_labels[i] != d.gallery_labels[j]) impostor.push_back(p[i * g + j]);
    const FalseAlarmModel imp(std::move(impostor));
    for (double f : fars)
      c.far.push_back({f, imp.threshold(f), imp.size(), f * static_cast<double>(imp.size()) >= kMinFalseAlarms});
  }
  // Identification: each query against the identities it is not.
  std::vector<int> all(d.gallery_labels.begin(), d.gallery_labels.end());
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  const IdentityScores ids = identity_scores(scores, d.gallery_labels, all, score);
  const at::Tensor m = ids.scores.contiguous();
  const float* p = m.data_ptr<float>();
  const std::size_t e = ids.labels.size();
  std::vector<std::vector<float>> non_mated(d.query_labels.size());
  for (std::size_t i = 0; i < d.query_labels.size(); ++i)
    for (std::size_t j = 0; j < e; ++j)
      if (ids.labels[j] != d.query_labels[i]) non_mated[i].push_back(p[i * e + j]);
  c.identification = NonMatedModel(non_mated);
  c.queries = d.query_labels.size();
  c.identities = e;
  return c;
}

namespace {

std::string pct(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", 100 * v);
  return b;
}

std::string rate_name(double r) {
  char b[32];
  std::snprintf(b, sizeof b, "%g%%", 100 * r);
  return b;
}

}  // namespace

nlohmann::json to_json(const DirectionOpenSet& d, bool with_curves) {
  nlohmann::json trials = nlohmann::json::array();
  for (const auto& t : d.trials) trials.push_back(to_json(t, false));
  nlohmann::json j = {{"query_domain", domain_name(d.query_domain)},
                      {"gallery_domain", domain_name(d.gallery_domain)},
                      {"verification", to_json(d.verification, with_curves)},
                      {"identification", to_json(d.mean, with_curves)},
                      {"trials", trials}};
  if (!d.calibrated.empty()) {
    nlohmann::json cal = nlohmann::json::array();
    for (const auto& p : d.calibrated) {
      nlohmann::json q = to_json(p);
      q["dir"] = p.hit;
      q["fnir"] = 1 - p.hit;
      q["realised_over_target"] = p.target > 0 ? p.false_alarm / p.target : 0.0;
      cal.push_back(q);
    }
    j["calibrated"] = cal;
  }
  return j;
}

std::string format_open_set_table(const std::vector<DirectionOpenSet>& dirs) {
  std::string out;
  char buf[256];
  for (const auto& d : dirs) {
    const auto& v = d.verification;
    std::snprintf(buf, sizeof buf, "%s verification: AUC %.2f, EER %.2f%% (%zu genuine, %zu impostor pairs)\n", d.name.c_str(),
                  100 * v.auc, 100 * v.eer, v.genuine, v.impostor);
    out += buf;
    for (const auto& p : v.at_far)
      out += "  TAR @ FAR " + rate_name(p.target) + ": " + pct(p.hit) + "%" + (p.supported ? "" : " (too few impostor pairs)") + "\n";
    const auto& m = d.mean;
    std::snprintf(buf, sizeof buf, "%s identification: %zu of %zu identities enrolled, %zu mated / %zu non-mated queries%s\n",
                  d.name.c_str(), m.enrolled, m.enrolled + m.unenrolled, m.mated, m.non_mated,
                  d.trials.size() > 1 ? (", mean of " + std::to_string(d.trials.size()) + " splits").c_str() : "");
    out += buf;
    out += "  closed-set rank-1 " + pct(m.rank1) + "%\n";
    out += "  FPIR target   DIR (threshold on these queries)";
    out += d.calibrated.empty() ? "\n" : "   calibrated: DIR  realised FPIR\n";
    for (std::size_t k = 0; k < m.at_fpir.size(); ++k) {
      const auto& p = m.at_fpir[k];
      std::snprintf(buf, sizeof buf, "  %-11s %6s%%%s", rate_name(p.target).c_str(), pct(p.hit).c_str(),
                    p.supported ? "                            " : " (few non-mated queries)    ");
      out += buf;
      if (!d.calibrated.empty()) {
        const auto& c = d.calibrated[k];
        std::snprintf(buf, sizeof buf, "     %6s%%  %6s%%", pct(c.hit).c_str(), pct(c.false_alarm).c_str());
        out += buf;
      }
      out += "\n";
    }
  }
  return out;
}

std::string format_open_set_markdown(const std::vector<DirectionOpenSet>& dirs) {
  std::string out = "| direction | AUC | EER |";
  const auto& first = dirs.front();
  for (const auto& p : first.verification.at_far) out += " TAR@FAR " + rate_name(p.target) + " |";
  out += " rank-1 |";
  for (const auto& p : first.mean.at_fpir) out += " DIR@FPIR " + rate_name(p.target) + " |";
  for (const auto& p : first.calibrated) out += " calibrated DIR / FPIR @" + rate_name(p.target) + " |";
  out += "\n|---|";
  const std::size_t cols = 2 + first.verification.at_far.size() + 1 + first.mean.at_fpir.size() + first.calibrated.size();
  for (std::size_t i = 0; i < cols; ++i) out += "---:|";
  out += "\n";
  for (const auto& d : dirs) {
    out += "| " + d.name + " | " + pct(d.verification.auc) + " | " + pct(d.verification.eer) + " |";
    for (const auto& p : d.verification.at_far) out += " " + pct(p.hit) + " |";
    out += " " + pct(d.mean.rank1) + " |";
    for (const auto& p : d.mean.at_fpir) out += " " + pct(p.hit) + " |";
    for (const auto& p : d.calibrated) out += " " + pct(p.hit) + " / " + pct(p.false_alarm) + " |";
    out += "\n";
  }
  return out;
}

}  // namespace toonreid
