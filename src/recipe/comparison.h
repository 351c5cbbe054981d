// What each pipeline stage leaves behind (stage.json) and the comparison of all stages in
// the form of the paper's Table 2: per stage, training accuracy, test mAP / Rank-1 for
// C2P and P2C, relative change against the baseline, wall time; as Markdown, JSON, and a
// self-contained HTML page with a chart of C2P and P2C mAP per stage above the table.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace toonreid {

struct StageRecord {
  std::string stage;  // baseline, mdl, identity_mining, kmeans, rerank, ensemble
  double seconds = 0;
  std::optional<double> train_accuracy;
  nlohmann::json metrics;  // {"C2P": {...}, "P2C": {...}}, fractions
  nlohmann::json extra;    // mining figures, models used, validation score
  std::string model;       // the checkpoint this stage produced or evaluated
};

// Table label of a stage name; "?" for names that are not stages.
const char* stage_label(const std::string& stage);
bool is_stage(const std::string& stage);

nlohmann::json to_json(const StageRecord& record);
StageRecord stage_record_from_json(const nlohmann::json& json);

// The comparison table as Markdown (also what `toonreid pipeline` prints).
std::string comparison_markdown(const std::vector<StageRecord>& records);
// The HTML page: `title` (e.g. the config file), the chart, the table.
std::string comparison_html(const std::vector<StageRecord>& records, const std::string& title);
// Writes comparison.md, comparison.json and comparison.html into `dir` (atomically) and
// returns the Markdown.
std::string write_comparison(const std::vector<StageRecord>& records, const std::filesystem::path& dir,
                             const std::string& title);

}  // namespace toonreid
