#include "eval/html_report.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "core/base64.h"
#include "eval/svg_plot.h"

namespace toonreid {

namespace {

std::string pct(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", 100 * v);
  return buf;
}

void metrics_table(std::ostringstream& s, const std::vector<const RetrievalDirection*>& dirs) {
  s << "<table class=\"metrics\"><tr><th>direction</th><th>mAP</th><th>Rank-1</th><th>Rank-5</th><th>Rank-10</th>"
       "<th>mINP</th><th>queries</th><th>skipped</th><th>gallery</th></tr>";
  for (const auto* d : dirs) {
    const auto& m = d->metrics;
    s << "<tr><td>" << escape_html(d->name) << "</td><td>" << pct(m.mAP) << "</td><td>" << pct(m.rank(1)) << "</td><td>"
      << pct(m.rank(5)) << "</td><td>" << pct(m.rank(10)) << "</td><td>" << pct(m.mINP) << "</td><td>" << m.queries
      << "</td><td>" << m.skipped << "</td><td>" << d->gallery_records.size() << "</td></tr>";
  }
  s << "</table><p class=\"note\">Percentages. C2P: caricature queries, photo gallery; P2C: the reverse.</p>";
}

void cmc_chart(std::ostringstream& s, const std::vector<const RetrievalDirection*>& dirs) {
  std::vector<PlotSeries> series;
  for (const auto* d : dirs) {
    PlotSeries p{d->name, {}, {}};
    for (std::size_t k = 0; k < d->metrics.cmc.size(); ++k) p.x.push_back(static_cast<double>(k + 1)), p.y.push_back(100 * d->metrics.cmc[k]);
    series.push_back(std::move(p));
  }
  PlotOptions o;
  o.title = "CMC curve";
  o.x_label = "rank";
  o.integer_x = true;
  o.y_label = "matching rate (%)";
  s << "<figure id=\"cmc\">" << render_line_chart(series, o) << "</figure>";
}

void training_charts(std::ostringstream& s, const std::vector<EpochRecord>& epochs) {
  std::vector<std::string> names;
  for (const auto& e : epochs)
    for (const auto& [k, v] : e.losses)
      if (std::find(names.begin(), names.end(), k) == names.end()) names.push_back(k);
  std::vector<PlotSeries> losses;
  for (const auto& n : names) {
    PlotSeries p{n.substr(5), {}, {}};  // without "loss_"
    for (const auto& e : epochs)
      if (auto it = e.losses.find(n); it != e.losses.end()) p.x.push_back(e.epoch), p.y.push_back(it->second);
    losses.push_back(std::move(p));
  }
  PlotOptions lo;
  lo.title = "Training losses (epoch means)";
  lo.x_label = "epoch";
  lo.integer_x = true;
  lo.y_from_zero = true;
  s << "<figure id=\"losses\">" << render_line_chart(losses, lo) << "</figure>";
  PlotSeries acc{"ID accuracy", {}, {}}, c2p{"C2P mAP", {}, {}}, p2c{"P2C mAP", {}, {}};
  for (const auto& e : epochs) {
    acc.x.push_back(e.epoch), acc.y.push_back(100 * e.accuracy);
    if (e.c2p_map) c2p.x.push_back(e.epoch), c2p.y.push_back(100 * *e.c2p_map);
    if (e.p2c_map) p2c.x.push_back(e.epoch), p2c.y.push_back(100 * *e.p2c_map);
  }
  std::vector<PlotSeries> scores{acc};
  if (!c2p.x.empty()) scores.push_back(c2p);
  if (!p2c.x.empty()) scores.push_back(p2c);
  PlotOptions ao;
  ao.title = "Training accuracy and evaluations";
  ao.x_label = "epoch";
  ao.integer_x = true;
  ao.y_label = "%";
  ao.y_from_zero = true;
  s << "<figure id=\"accuracy\">" << render_line_chart(scores, ao) << "</figure>";
}

void hardest_identities(std::ostringstream& s, const RetrievalDirection& d, const std::vector<std::string>& names) {
  auto ids = per_identity(d.metrics);
  std::sort(ids.begin(), ids.end(), [](const IdentityMetrics& a, const IdentityMetrics& b) { return a.mAP < b.mAP; });
  s << "<details><summary>" << escape_html(d.name) << ": per-identity mAP (" << ids.size()
    << " identities, hardest first)</summary><table><tr><th>identity</th><th>queries</th><th>mAP</th><th>Rank-1</th></tr>";
  for (const auto& id : ids) {
    const std::string name =
        id.label >= 0 && static_cast<std::size_t>(id.label) < names.size() ? names[static_cast<std::size_t>(id.label)] : std::to_string(id.label);
    s << "<tr><td>" << escape_html(name) << "</td><td>" << id.queries << "</td><td>" << pct(id.mAP) << "</td><td>"
      << pct(id.rank1) << "</td></tr>";
  }
  s << "</table></details>";
}

std::string rate(double r) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g%%", 100 * r);
  return buf;
}

void open_set_section(std::ostringstream& s, const std::vector<const DirectionOpenSet*>& dirs) {
  s << "<table class=\"openset\"><tr><th>direction</th><th>AUC</th><th>EER</th>";
  for (const auto& p : dirs.front()->verification.at_far) s << "<th>TAR @ FAR " << rate(p.target) << "</th>";
  s << "<th>rank-1</th>";
  for (const auto& p : dirs.front()->mean.at_fpir) s << "<th>DIR @ FPIR " << rate(p.target) << "</th>";
  for (const auto& p : dirs.front()->calibrated) s << "<th>calibrated " << rate(p.target) << ": DIR / FPIR</th>";
  s << "</tr>";
  for (const auto* d : dirs) {
    s << "<tr><td>" << escape_html(d->name) << "</td><td>" << pct(d->verification.auc) << "</td><td>" << pct(d->verification.eer)
      << "</td>";
    for (const auto& p : d->verification.at_far) s << "<td>" << pct(p.hit) << (p.supported ? "" : "*") << "</td>";
    s << "<td>" << pct(d->mean.rank1) << "</td>";
    for (const auto& p : d->mean.at_fpir) s << "<td>" << pct(p.hit) << (p.supported ? "" : "*") << "</td>";
    for (const auto& p : d->calibrated) s << "<td>" << pct(p.hit) << " / " << pct(p.false_alarm) << "</td>";
    s << "</tr>";
  }
  const auto& m = dirs.front()->mean;
  s << "</table><p class=\"note\">Percentages. Verification: every query-gallery pair. Identification: " << m.enrolled << " of "
    << m.enrolled + m.unenrolled << " identities enrolled (seeded split" << (dirs.front()->trials.size() > 1 ? "s, averaged" : "")
    << "); DIR = mated queries identified at rank 1 and accepted; thresholds from these queries' own non-mated scores, "
       "calibrated columns from the calibration file. * rests on fewer than 10 false alarms.</p>";
  std::vector<PlotSeries> roc, det;
  for (const auto* d : dirs) {
    PlotSeries r{d->name, {}, {}}, e{d->name, {}, {}};
    for (const auto& p : d->verification.roc) r.x.push_back(p.false_alarm), r.y.push_back(100 * p.hit);
    for (const auto& p : d->mean.det) e.x.push_back(p.false_alarm), e.y.push_back(100 * (1 - p.hit));
    roc.push_back(std::move(r));
    det.push_back(std::move(e));
  }
  PlotOptions ro;
  ro.title = "ROC (verification)";
  ro.x_label = "false accept rate";
  ro.y_label = "true accept rate (%)";
  ro.log_x = true;
  ro.y_from_zero = true;
  s << "<figure id=\"roc\">" << render_line_chart(roc, ro) << "</figure>";
  PlotOptions dop;
  dop.title = "DET (open-set identification)";
  dop.x_label = "false positive identification rate";
  dop.y_label = "false negative identification rate (%)";
  dop.log_x = true;
  dop.y_from_zero = true;
  s << "<figure id=\"det\">" << render_line_chart(det, dop) << "</figure>";
}

}  // namespace

std::string render_html_report(const ReportInput& in) {
  std::ostringstream s;
  s << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" << escape_html(in.title)
    << "</title><style>"
       "body{font-family:sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}"
       "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 9px;text-align:right}"
       "th{background:#f2f2f2}td:first-child{text-align:left}dt{font-weight:bold;float:left;width:9em;clear:left}"
       "dd{margin-left:10em}figure{display:inline-block;margin:.5em}.note{color:#666;font-size:90%}"
       "img.ranked{max-width:100%;border:1px solid #ccc}"
       "</style></head><body>\n<h1>" << escape_html(in.title) << "</h1>\n";
  if (!in.facts.empty()) {
    s << "<dl>";
    for (const auto& [k, v] : in.facts) s << "<dt>" << escape_html(k) << "</dt><dd>" << escape_html(v) << "</dd>";
    s << "</dl>\n";
  }
  s << "<h2>Metrics</h2>\n";
  metrics_table(s, in.directions);
  cmc_chart(s, in.directions);
  bool any_path = false;
  for (const auto& paths : in.by_query_path) any_path |= !paths.empty();
  if (any_path) {
    s << "\n<h2>By query path</h2>\n<p class=\"note\">Which path of the face chain cut each query's chip: "
         "queries whose face no detector found (letterbox) are where accuracy is lost.</p>\n"
         "<table><tr><th>direction</th><th>query path</th><th>queries</th><th>share</th><th>mAP</th><th>Rank-1</th></tr>\n";
    for (std::size_t i = 0; i < in.by_query_path.size() && i < in.directions.size(); ++i)
      for (const auto& p : in.by_query_path[i]) {
        char buf[128];
        std::snprintf(buf, sizeof buf, "<td>%zu</td><td>%.1f%%</td><td>%.2f</td><td>%.2f</td>", p.queries, 100 * p.share,
                      100 * p.mAP, 100 * p.rank1);
        s << "<tr><td>" << escape_html(in.directions[i]->name) << "</td><td>" << escape_html(p.path) << "</td>" << buf
          << "</tr>\n";
      }
    s << "</table>\n";
  }
  if (!in.open_set.empty()) {
    s << "\n<h2>Open set: verification and identification</h2>\n";
    open_set_section(s, in.open_set);
  }
  if (!in.training.empty()) {
    s << "\n<h2>Training</h2>\n";
    training_charts(s, in.training);
  }
  s << "\n<h2>Identities</h2>\n";
  for (const auto* d : in.directions) hardest_identities(s, *d, in.identity_names);
  if (!in.pictures.empty()) {
    s << "\n<h2>Ranked lists</h2>\n<p class=\"note\">Query (blue), then the top matches: green = same identity, "
         "red = another identity; distance under each.</p>\n";
    for (const auto& p : in.pictures)
      s << "<figure><figcaption>" << escape_html(p.caption) << "</figcaption><img class=\"ranked\" alt=\""
        << escape_html(p.caption) << "\" src=\"data:image/png;base64," << base64_encode(p.png) << "\"></figure>\n";
  }
  s << "<p class=\"note\">Written by toonreid.</p></body></html>\n";
  return s.str();
}

}  // namespace toonreid
