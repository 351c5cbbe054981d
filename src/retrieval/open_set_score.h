// Scores that separate known from unknown faces, and the thresholds that turn them into
// decisions ("match" or "unknown") at a chosen false-alarm rate.
//
// Conventions (shared with eval/open_set.h):
//   - a score is a dissimilarity: lower means more alike;
//   - a decision accepts when score < threshold (strictly);
//   - the threshold for a target false-alarm rate f over n non-mated scores sorted
//     s(1) <= ... <= s(n) is s(k + 1) with k = floor(f n): at most k of them are accepted
//     (fewer when scores tie); +infinity when k = n.
//
// Image scores, from the Euclidean distance d(q, g) of L2-normalised embeddings:
//   none   d(q, g)
//   znorm  (d(q, g) - m(q)) / s(q): m, s the mean and deviation of q's K smallest
//          distances to the cohort images of g's domain (adaptive Z-norm)
//   snorm  d(q, g) - (c(q, dom g) + c(g, query domain)) / 2, c(x, D) the mean of x's K
//          smallest distances to the cohort images of domain D: a two-sided cohort mean.
//          The gallery side removes "hubs" (images close to everyone), the query side
//          puts every query on one scale.
// The cohort is a set of faces of people who are in no gallery and never queried (the
// training identities' images), by domain. An identity's score aggregates its images'
// scores: the best, or the mean of its m best. `ratio` (identity level: the best
// identity's score over the second's) depends on the whole gallery, so no threshold
// carries over to a gallery of another size: it is measured, never calibrated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "data/dataset.h"

namespace toonreid {

class Config;
class ConfigSchema;

enum class ScoreNormalization { None, ZNorm, SNorm, Ratio };
ScoreNormalization parse_score_normalization(const std::string& name);  // "none", "znorm", "snorm", "ratio"
const char* score_normalization_name(ScoreNormalization n);

// How an identity's score comes from the scores of its gallery images.
enum class IdentityAggregation {
  Best,    // its best (lowest) image score
  MeanTop  // the mean of its `top_m` best image scores (all of them when it has fewer)
};
IdentityAggregation parse_identity_aggregation(const std::string& name);  // "best", "mean_top"
const char* identity_aggregation_name(IdentityAggregation a);

// Defaults: the plain distance of the best image (what an uncalibrated index ranks by);
// the config's open_set section defaults to the validation-chosen snorm, K 30, mean of 3.
struct ScoreOptions {
  ScoreNormalization normalization = ScoreNormalization::None;
  int cohort_top_k = 30;  // K above
  IdentityAggregation aggregation = IdentityAggregation::Best;
  int top_m = 1;
  bool needs_cohort() const { return normalization == ScoreNormalization::ZNorm || normalization == ScoreNormalization::SNorm; }
  // True when a threshold can be calibrated on one gallery and used on another.
  bool calibratable() const { return normalization != ScoreNormalization::Ratio; }
  std::string describe() const;  // "snorm (K 100), mean of the 3 best images"
  nlohmann::json to_json() const;
  static ScoreOptions from_json(const nlohmann::json& j, const std::string& where);
};

// Declares the `open_set` section (scores, the evaluation's split, the cohort).
void add_open_set_options(ConfigSchema& schema);
ScoreOptions score_options(const Config& config);

// Embeddings of cohort faces, by domain: [n, dim] unit rows each (either may be empty).
struct Cohort {
  torch::Tensor photo, cartoon;
  const torch::Tensor& of(Domain d) const { return d == Domain::Photo ? photo : cartoon; }
  bool empty() const { return !photo.defined() && !cartoon.defined(); }
  int64_t size() const;
};

// Per row of x [N, dim]: the mean and the standard deviation of its k smallest Euclidean
// distances to the rows of `cohort` [C, dim] (all of them when C < k). Throws Error when
// the cohort is empty or of another dimension.
struct CohortStats {
  torch::Tensor mean, stdev;  // [N] float
};
CohortStats cohort_stats(const torch::Tensor& x, const torch::Tensor& cohort, int k);

// Image scores [Q, G] from distances [Q, G] under `options.normalization` (see above):
//   query_vs_gallery_domain: cohort_stats of the queries against the gallery domain's cohort
//   gallery_vs_query_domain: cohort_stats of the gallery images against the query domain's
// Either may be omitted (nullptr) when the normalisation does not use it. `ratio` and
// `none` return the distances.
torch::Tensor image_scores(const torch::Tensor& distances, const ScoreOptions& options,
                           const CohortStats* query_vs_gallery_domain, const CohortStats* gallery_vs_query_domain);

// Query x identity scores.
struct IdentityScores {
  torch::Tensor scores;     // float [Q, E]
  std::vector<int> labels;  // the E identities' labels, ascending
};

// Aggregates image scores [Q, G] into identity scores over the identities in `keep`
// (labels; those absent from the gallery are dropped); then, for `ratio`, divides each
// row by its second-lowest identity score (its best identity gets best / second).
IdentityScores identity_scores(const torch::Tensor& image_scores, const std::vector<int>& gallery_labels,
                               const std::vector<int>& keep, const ScoreOptions& options);

// The identity score of one identity from its image scores (any order).
float aggregate_identity(std::vector<float> image_scores, const ScoreOptions& options);

// How often non-mated queries would be accepted at a threshold, for a gallery of any
// number of identities N. Built from calibration queries with V identities: each query's
// scores against the V - 1 identities it is not form its non-mated sample; each query
// keeps the mean m and deviation s of its sample, and the standardised residuals
// (x - m) / s of all queries are pooled into one distribution H. Then
//   FPIR_N(t) = mean over queries of 1 - (1 - H((t - m_q) / s_q))^N,
// that is: N independent non-mated identities per query, each drawn from the query's
// own (location, scale) with a common shape. Per-query locations keep "hub" queries
// (close to everyone) apart from the others, which a single pooled distribution would
// not (it under-estimates the thresholds at large N).
class NonMatedModel {
 public:
  NonMatedModel() = default;
  // non_mated[q]: query q's scores against the identities it is not (at least 2 each;
  // queries with fewer, or with all scores equal, are skipped). Throws Error when no query is usable.
  explicit NonMatedModel(const std::vector<std::vector<float>>& non_mated);
  // The predicted FPIR at `threshold` for `identities` enrolled identities.
  double fpir(double threshold, int64_t identities) const;
  // The largest threshold whose predicted FPIR is at most `target` (bisection to 1e-6).
  double threshold(double target, int64_t identities) const;
  std::size_t queries() const { return mean_.size(); }
  std::size_t residuals() const { return residuals_.size(); }
  nlohmann::json to_json() const;
  static NonMatedModel from_json(const nlohmann::json& j, const std::string& where);

 private:
  std::vector<float> mean_, stdev_, residuals_;  // residuals sorted
};

// One direction's calibration: a caricature (or photo) query against a gallery of the
// other domain.
struct DirectionCalibration {
  Domain query_domain = Domain::Cartoon, gallery_domain = Domain::Photo;
  std::size_t queries = 0, identities = 0;  // of the calibration set
  // Verification (pairs): the threshold for each target FAR, with what it rests on.
  struct FarThreshold {
    double far = 0, threshold = 0;
    std::size_t impostor_pairs = 0;
    bool supported = false;
  };
  std::vector<FarThreshold> far;
  NonMatedModel identification;
};

// What `toonreid calibrate` writes and a gallery index carries: for one model, how its
// scores are computed (options and cohort) and where its thresholds lie.
struct Calibration {
  std::string fingerprint;  // the model's (serve/embedder.h); thresholds belong to it alone
  std::string weights;      // for people: the checkpoint, empty for the pretrained network
  std::string source;       // for people: the data the thresholds rest on
  ScoreOptions score;
  Cohort cohort;
  std::vector<DirectionCalibration> directions;

  // The direction whose gallery is of `gallery_domain` (queries of the other domain);
  // throws Error when there is none.
  const DirectionCalibration& direction(Domain gallery_domain) const;
  nlohmann::json to_json() const;
  static Calibration from_json(const nlohmann::json& j, const std::string& where);
  static Calibration load(const std::filesystem::path& file);
  void save(const std::filesystem::path& file) const;  // atomically
};

}  // namespace toonreid
