#include "recipe/comparison.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/atomic_file.h"
#include "eval/svg_plot.h"

namespace toonreid {

const char* stage_label(const std::string& s) {
  if (s == "baseline") return "Baseline";
  if (s == "mdl") return "+ MDL";
  if (s == "identity_mining") return "+ IM";
  if (s == "kmeans") return "+ k-means (instead of IM)";
  if (s == "rerank") return "+ re-ranking";
  if (s == "ensemble") return "+ ensemble";
  return "?";
}

bool is_stage(const std::string& stage) { return std::string(stage_label(stage)) != "?"; }

nlohmann::json to_json(const StageRecord& r) {
  nlohmann::json j{{"stage", r.stage}, {"label", stage_label(r.stage)}, {"seconds", r.seconds}, {"metrics", r.metrics},
                   {"extra", r.extra},  {"model", r.model}};
  j["train_accuracy"] = r.train_accuracy ? nlohmann::json(*r.train_accuracy) : nlohmann::json(nullptr);
  return j;
}

StageRecord stage_record_from_json(const nlohmann::json& j) {
  StageRecord r;
  r.stage = j.at("stage").get<std::string>();
  r.seconds = j.at("seconds").get<double>();
  if (!j.at("train_accuracy").is_null()) r.train_accuracy = j.at("train_accuracy").get<double>();
  r.metrics = j.at("metrics");
  r.extra = j.value("extra", nlohmann::json::object());
  r.model = j.value("model", "");
  return r;
}

namespace {

double metric(const StageRecord& r, const char* direction, const char* key) {
  return r.metrics.contains(direction) ? r.metrics[direction].value(key, std::nan("")) : std::nan("");
}

std::string pct(double v) {
  if (std::isnan(v)) return "–";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", 100 * v);
  return buf;
}

// Relative mAP change against the baseline stage ("–" without one).
std::string change(const StageRecord* base, const StageRecord& r, const char* direction) {
  if (!base) return "–";
  const double b = metric(*base, direction, "mAP"), v = metric(r, direction, "mAP");
  if (!(b > 0)) return "–";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.1f%%", 100 * (v - b) / b);
  return buf;
}

const StageRecord* baseline_of(const std::vector<StageRecord>& records) {
  const StageRecord* base = nullptr;
  for (const auto& r : records)
    if (r.stage == "baseline") base = &r;
  return base;
}

// The per-stage row after the stage's name: train acc, C2P mAP/R1, P2C mAP/R1, changes.
std::vector<std::string> row_cells(const std::vector<StageRecord>& records, const StageRecord& r) {
  const StageRecord* base = baseline_of(records);
  return {r.train_accuracy ? pct(*r.train_accuracy) : "–", pct(metric(r, "C2P", "mAP")), pct(metric(r, "C2P", "rank1")),
          pct(metric(r, "P2C", "mAP")), pct(metric(r, "P2C", "rank1")), change(base, r, "C2P"), change(base, r, "P2C")};
}

}  // namespace

std::string comparison_markdown(const std::vector<StageRecord>& records) {
  std::ostringstream md;
  md << "| stage | train acc | C2P mAP | C2P R1 | P2C mAP | P2C R1 | C2P mAP vs baseline | P2C mAP vs baseline | wall time |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& r : records) {
    char wall[32];
    std::snprintf(wall, sizeof wall, "%.1f min", r.seconds / 60);
    md << "| " << stage_label(r.stage);
    for (const auto& cell : row_cells(records, r)) md << " | " << cell;
    md << " | " << wall << " |\n";
  }
  return md.str();
}

std::string comparison_html(const std::vector<StageRecord>& records, const std::string& title) {
  std::vector<std::string> names;
  PlotSeries c2p{"C2P mAP", {}, {}}, p2c{"P2C mAP", {}, {}};
  for (std::size_t i = 0; i < records.size(); ++i) {
    names.push_back(stage_label(records[i].stage));
    const double x = static_cast<double>(i);
    c2p.x.push_back(x), c2p.y.push_back(100 * metric(records[i], "C2P", "mAP"));
    p2c.x.push_back(x), p2c.y.push_back(100 * metric(records[i], "P2C", "mAP"));
  }
  PlotOptions o;
  o.title = "Test mAP per stage";
  o.y_label = "mAP (%)";
  o.x_categories = names;
  o.width = std::max(560, 130 * static_cast<int>(names.size()) + 170);
  std::ostringstream html;
  html << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>toonreid pipeline</title><style>"
          "body{font-family:sans-serif;margin:2em auto;max-width:1000px}table{border-collapse:collapse}"
          "td,th{border:1px solid #ccc;padding:3px 9px;text-align:right}td:first-child{text-align:left}"
          "th{background:#f2f2f2}</style></head><body><h1>toonreid pipeline</h1><p>"
       << escape_html(title) << "</p><figure id=\"stages\">" << render_line_chart({c2p, p2c}, o) << "</figure>"
       << "<table><tr><th>stage</th><th>train acc</th><th>C2P mAP</th><th>C2P R1</th>"
       << "<th>P2C mAP</th><th>P2C R1</th><th>C2P mAP vs baseline</th><th>P2C mAP vs baseline</th><th>wall time (s)</th></tr>";
  for (const auto& r : records) {
    html << "<tr><td>" << escape_html(stage_label(r.stage)) << "</td>";
    for (const auto& cell : row_cells(records, r)) html << "<td>" << cell << "</td>";
    html << "<td>" << static_cast<long>(r.seconds) << "</td></tr>";
  }
  html << "</table><p>Percentages; train acc: identity accuracy of the stage's last training epoch.</p></body></html>\n";
  return html.str();
}

std::string write_comparison(const std::vector<StageRecord>& records, const std::filesystem::path& dir,
                             const std::string& title) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : records) rows.push_back(to_json(r));
  const std::string md = comparison_markdown(records);
  write_file_atomically(dir / "comparison.md", md);
  write_file_atomically(dir / "comparison.json", nlohmann::json{{"stages", rows}}.dump(2) + "\n");
  write_file_atomically(dir / "comparison.html", comparison_html(records, title));
  return md;
}

}  // namespace toonreid
