#include "eval/open_set.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "core/error.h"
#include "core/random.h"

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

IdentityAggregation parse_identity_aggregation(const std::string& name) {
  if (name == "best") return IdentityAggregation::Best;
  if (name == "mean_top") return IdentityAggregation::MeanTop;
  throw ConfigError("identity score '" + name + "': expected best or mean_top");
}

const char* identity_aggregation_name(IdentityAggregation a) { return a == IdentityAggregation::Best ? "best" : "mean_top"; }

IdentityScores identity_scores(const at::Tensor& image_scores, const std::vector<int>& gallery_labels,
                               const std::vector<int>& keep, IdentityAggregation aggregation, int top_m) {
  if (image_scores.dim() != 2 || image_scores.size(1) != static_cast<int64_t>(gallery_labels.size()))
    throw Error("identity scores: image scores must be [Q, " + std::to_string(gallery_labels.size()) + "]");
  const at::Tensor s = image_scores.to(at::kFloat).contiguous();
  const std::set<int> wanted(keep.begin(), keep.end());
  std::map<int, std::vector<int64_t>> columns;
  for (std::size_t j = 0; j < gallery_labels.size(); ++j)
    if (wanted.count(gallery_labels[j])) columns[gallery_labels[j]].push_back(static_cast<int64_t>(j));
  IdentityScores out;
  for (const auto& [label, cols] : columns) out.labels.push_back(label);
  const int64_t q = s.size(0), e = static_cast<int64_t>(out.labels.size()), g = s.size(1);
  out.scores = at::empty({q, e}, at::kFloat);
  const float* in = s.data_ptr<float>();
  float* o = out.scores.data_ptr<float>();
  const int m = aggregation == IdentityAggregation::Best ? 1 : std::max(1, top_m);
  at::parallel_for(0, q, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> v;
    for (int64_t i = begin; i < end; ++i) {
      const float* row = in + i * g;
      int64_t k = 0;
      for (const auto& [label, cols] : columns) {
        v.clear();
        for (int64_t c : cols) v.push_back(row[c]);
        const std::size_t take = std::min<std::size_t>(static_cast<std::size_t>(m), v.size());
        std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(take), v.end());
        double sum = 0;
        for (std::size_t t = 0; t < take; ++t) sum += v[t];
        o[i * e + k++] = static_cast<float>(sum / static_cast<double>(take));
      }
    }
  });
  return out;
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

}  // namespace toonreid
