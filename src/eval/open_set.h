// Open-set evaluation: what a monitoring team needs to know before it trusts a "match".
//
//   verification (1:1)   every query x gallery pair is a trial: genuine (same identity)
//                        or impostor. ROC, AUC, EER, TAR at fixed FAR (WebCaricature's
//                        VR@FAR protocol).
//   identification (1:N) the gallery holds some identities only (the enrolled ones); a
//                        query of an enrolled identity is mated, any other is non-mated.
//                        Each query's best candidate identity is accepted when its score
//                        is below a threshold. DIR = mated queries whose best candidate is
//                        right and accepted; FNIR = 1 - DIR; FPIR = non-mated queries
//                        whose best candidate is accepted (NIST FRVT 1:N terms, rank 1).
//
// Conventions, everywhere in toonreid:
//   - a score is a dissimilarity: lower means more alike (a distance, or a normalised one);
//   - a decision accepts when score < threshold (strictly);
//   - the threshold for a target false-alarm rate f over n non-mated (impostor) scores
//     sorted s(1) <= ... <= s(n) is s(k + 1) with k = floor(f n): at most k of them are
//     accepted (fewer when scores tie); +infinity when k = n.
//   - an estimate at rate f is `supported` when f n >= kMinFalseAlarms: fewer false
//     alarms than that and the threshold rests on a handful of scores.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "retrieval/open_set_score.h"

namespace toonreid {

constexpr double kMinFalseAlarms = 10;

// The operating point for one target false-alarm rate.
struct OperatingPoint {
  double target = 0;       // the asked-for FAR or FPIR
  double threshold = 0;    // accept when score < threshold (+inf: accept all)
  double false_alarm = 0;  // the realised FAR / FPIR at that threshold (<= target)
  double hit = 0;          // TAR (verification) or DIR (identification)
  std::size_t false_alarms = 0;  // non-mated scores below the threshold
  bool supported = false;        // target * non-mated >= kMinFalseAlarms
};

// One point of a ROC (false_alarm, hit) or DET (false_alarm, 1 - hit) curve.
struct CurvePoint {
  double false_alarm = 0, hit = 0, threshold = 0;
};

// Sorted non-mated scores: thresholds and realised rates (the conventions above).
// `scores` need not be sorted; NaN is rejected (Error).
class FalseAlarmModel {
 public:
  explicit FalseAlarmModel(std::vector<float> scores);
  std::size_t size() const { return sorted_.size(); }
  // The threshold for target rate f in [0, 1].
  double threshold(double f) const;
  // Scores below `threshold`, and their fraction.
  std::size_t count_below(double threshold) const;
  double rate(double threshold) const;
  const std::vector<float>& sorted() const { return sorted_; }

 private:
  std::vector<float> sorted_;
};

// Fraction of `sorted` scores below `threshold`.
double fraction_below(const std::vector<float>& sorted, double threshold);

// FAR / FPIR values on a log scale from 1 / n to 1 (about `per_decade` per decade), for curves.
std::vector<double> curve_rates(std::size_t non_mated, int per_decade = 20);

struct VerificationMetrics {
  std::size_t genuine = 0, impostor = 0;  // trials
  double auc = 0;        // P(genuine score < impostor score), ties counted half
  double eer = 0;        // equal error rate: FAR = FRR, at eer_threshold
  double eer_threshold = 0;
  std::vector<OperatingPoint> at_far;  // one per requested FAR; hit = TAR
  std::vector<CurvePoint> roc;         // (FAR, TAR) on curve_rates()
};

// scores: float [Q, G]; labels per query row / gallery column. Every pair is a trial.
// Throws Error on NaN, empty sets, or no genuine / no impostor pair.
VerificationMetrics evaluate_verification(const at::Tensor& scores, const std::vector<int>& query_labels,
                                          const std::vector<int>& gallery_labels, const std::vector<double>& fars);

// Which identities the gallery holds in one open-set trial.
struct OpenSetSplit {
  std::vector<int> enrolled;    // labels, ascending
  std::vector<int> unenrolled;  // labels of the other gallery identities, ascending
};

// A seeded split of the gallery's identities (each label in `gallery_labels`): round(
// fraction x identities) enrolled, at least 1, and at least 1 left out. The same seed and
// labels give the same split on every machine (our own shuffle, not the standard
// library's distributions).
OpenSetSplit split_identities(const std::vector<int>& gallery_labels, double enrolled_fraction, std::uint64_t seed);

// Each query's best candidate: the lowest identity score and its label. [Q].
struct BestCandidates {
  std::vector<float> score;
  std::vector<int> label;
  std::vector<float> second;  // the second-lowest identity score (+inf with one identity)
};
BestCandidates best_candidates(const IdentityScores& s);

struct OpenSetMetrics {
  std::size_t enrolled = 0, unenrolled = 0;  // identities
  std::size_t mated = 0, non_mated = 0;      // queries
  double rank1 = 0;                          // closed set: mated queries whose best candidate is right
  std::vector<OperatingPoint> at_fpir;       // one per requested FPIR; hit = DIR
  std::vector<CurvePoint> det;               // (FPIR, DIR) on curve_rates(); FNIR = 1 - DIR
};

// The identification metrics of identity scores (each row a query; `query_labels` say
// who it shows: a label among s.labels is mated). `unenrolled` is reported only.
// Throws Error without mated or without non-mated queries.
OpenSetMetrics evaluate_open_set(const IdentityScores& s, const std::vector<int>& query_labels,
                                 const std::vector<double>& fpirs, std::size_t unenrolled = 0);

// ---- Open-set evaluation and calibration of one retrieval direction (C2P, P2C) ----

struct RetrievalDirection;

struct OpenSetEvalOptions {
  ScoreOptions score;
  double enrolled_fraction = 0.5;
  int repeats = 1;          // seeded enrolment splits (seed, seed + 1, ...), metrics averaged
  std::uint64_t seed = 0;
  std::vector<double> fars = {1e-4, 1e-3, 1e-2, 1e-1};
  std::vector<double> fpirs = {0.01, 0.05, 0.1, 0.3};
  // Distances between queries and the enrolled gallery in each trial (plain, or re-ranked
  // with the retrieval recipe): computed by the caller's function, [Q, G_enrolled].
  std::function<at::Tensor(const at::Tensor& queries, const at::Tensor& gallery)> distances;
  const Calibration* calibration = nullptr;  // also: its thresholds for the enrolled count
};

struct DirectionOpenSet {
  std::string name;
  Domain query_domain = Domain::Cartoon, gallery_domain = Domain::Photo;
  VerificationMetrics verification;     // every query against the whole gallery
  std::vector<OpenSetMetrics> trials;   // one per enrolment split
  OpenSetMetrics mean;                  // trials averaged (counts, rank-1, each FPIR's point; the first trial's DET)
  // With a calibration: per target FPIR, the calibrated threshold for the enrolled count,
  // the FPIR realised on these queries and the DIR (means over the trials).
  std::vector<OperatingPoint> calibrated;
};

// The cohort statistics a direction's scores need: queries against the gallery domain's
// cohort, gallery images against the query domain's (undefined when not needed).
struct DirectionCohortStats {
  CohortStats query, gallery;
};
DirectionCohortStats direction_cohort_stats(const at::Tensor& query_features, const at::Tensor& gallery_features,
                                            Domain query_domain, Domain gallery_domain, const Cohort* cohort,
                                            const ScoreOptions& score);

// features [N, D] (row i: record i of the split the direction indexes); `domains` per record.
DirectionOpenSet evaluate_open_set_direction(const RetrievalDirection& direction, const at::Tensor& features,
                                             const std::vector<Domain>& domains, const Cohort* cohort,
                                             const OpenSetEvalOptions& options);

// The calibration of one direction on its split (every identity enrolled): the FAR
// thresholds over its impostor pairs and the non-mated model of each query against the
// identities it is not. Requires a calibratable score.
DirectionCalibration calibrate_direction(const RetrievalDirection& direction, const at::Tensor& features,
                                         const std::vector<Domain>& domains, const Cohort* cohort,
                                         const ScoreOptions& score, const std::vector<double>& fars);

nlohmann::json to_json(const DirectionOpenSet& d, bool with_curves);
// Printed beside the mAP table: per direction verification (AUC, EER, TAR at each FAR)
// and identification (rank-1, DIR at each FPIR; calibrated rows when present).
std::string format_open_set_table(const std::vector<DirectionOpenSet>& directions);
std::string format_open_set_markdown(const std::vector<DirectionOpenSet>& directions);

nlohmann::json to_json(const OperatingPoint& p);
nlohmann::json to_json(const VerificationMetrics& m, bool with_curve);
nlohmann::json to_json(const OpenSetMetrics& m, bool with_curve);

}  // namespace toonreid
