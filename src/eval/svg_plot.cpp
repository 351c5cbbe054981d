#include "eval/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace toonreid {

std::string escape_html(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string number(double v) {
  char buf[32];
  const double a = std::fabs(v);
  std::snprintf(buf, sizeof buf, a != 0 && (a < 0.01 || a >= 1e5) ? "%.2g" : a < 10 ? "%.2f" : "%.0f", v);
  return buf;
}

}  // namespace

std::vector<double> axis_ticks(double lo, double hi, int target, bool integers) {
  std::vector<double> ticks;
  if (!(lo <= hi) || target < 1) return ticks;
  if (!integers) {
    for (int t = 0; t <= target; ++t) ticks.push_back(lo + (hi - lo) * t / target);
    return ticks;
  }
  const double first = std::ceil(lo - 1e-9), last = std::floor(hi + 1e-9);
  if (first > last) return ticks;
  const double span = last - first;
  double step = 1;  // the smallest of 1, 2, 5, 10, 20, 50, ... giving at most `target` intervals
  for (double base = 1; span / step > target; base *= 10)
    for (double m : {1.0, 2.0, 5.0})
      if (span / (step = m * base) <= target) break;
  for (double v = std::ceil(first / step) * step; v <= last + 1e-9; v += step) ticks.push_back(v);
  return ticks;
}

std::string render_line_chart(const std::vector<PlotSeries>& series_in, const PlotOptions& o) {
  std::vector<PlotSeries> series = series_in;
  if (o.log_x)
    for (auto& sr : series)
      for (double& x : sr.x) x = x > 0 ? std::log10(x) : std::numeric_limits<double>::quiet_NaN();
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& s : series)
    for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]), y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
    }
  if (!(x0 <= x1)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;  // nothing to draw
  if (o.y_from_zero) y0 = std::min(y0, 0.0);
  if (!o.x_categories.empty()) x0 = std::min(x0, 0.0), x1 = std::max(x1, static_cast<double>(o.x_categories.size() - 1));
  if (x1 == x0) x0 -= 0.5, x1 += 0.5;
  if (y1 == y0) y0 -= 0.5, y1 += 0.5;
  const double pad = 0.05 * (y1 - y0);
  if (!(o.y_from_zero && y0 == 0)) y0 -= pad;
  y1 += pad;
  const int left = 58, right = 110, top = o.title.empty() ? 14 : 32, bottom = 44;
  const double pw = o.width - left - right, ph = o.height - top - bottom;
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * pw; };
  auto py = [&](double y) { return top + (1 - (y - y0) / (y1 - y0)) * ph; };
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"" << o.width << "\" height=\"" << o.height
    << "\" viewBox=\"0 0 " << o.width << ' ' << o.height << "\" font-family=\"sans-serif\" font-size=\"11\">";
  s << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>";
  if (!o.title.empty())
    s << "<text x=\"" << o.width / 2 << "\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">"
      << escape_html(o.title) << "</text>";
  for (double yv : axis_ticks(y0, y1, 4, false)) {  // grid and y ticks
    s << "<line x1=\"" << left << "\" x2=\"" << left + pw << "\" y1=\"" << py(yv) << "\" y2=\"" << py(yv)
      << "\" stroke=\"#ddd\"/>";
    s << "<text x=\"" << left - 6 << "\" y=\"" << py(yv) + 4 << "\" text-anchor=\"end\">" << number(yv) << "</text>";
  }
  if (!o.x_categories.empty()) {
    for (std::size_t i = 0; i < o.x_categories.size(); ++i)
      s << "<text class=\"xtick\" x=\"" << px(static_cast<double>(i)) << "\" y=\"" << top + ph + 16
        << "\" text-anchor=\"middle\">" << escape_html(o.x_categories[i]) << "</text>";
  } else if (o.log_x) {
    for (double xv : axis_ticks(x0, x1, 8, true))
      s << "<text class=\"xtick\" x=\"" << px(xv) << "\" y=\"" << top + ph + 16 << "\" text-anchor=\"middle\">"
        << number(std::pow(10.0, xv)) << "</text>";
  } else {
    for (double xv : axis_ticks(x0, x1, o.integer_x ? 6 : 4, o.integer_x))
      s << "<text class=\"xtick\" x=\"" << px(xv) << "\" y=\"" << top + ph + 16 << "\" text-anchor=\"middle\">"
        << (o.integer_x ? std::to_string(static_cast<long long>(std::llround(xv))) : number(xv)) << "</text>";
  }
  s << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"#444\"/>";
  if (!o.x_label.empty())
    s << "<text x=\"" << left + pw / 2 << "\" y=\"" << o.height - 8 << "\" text-anchor=\"middle\">" << escape_html(o.x_label)
      << "</text>";
  if (!o.y_label.empty())
    s << "<text transform=\"translate(14," << top + ph / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
      << escape_html(o.y_label) << "</text>";
  for (std::size_t k = 0; k < series.size(); ++k) {
    const auto& sr = series[k];
    const char* colour = kColours[k % (sizeof kColours / sizeof *kColours)];
    std::ostringstream points;
    std::size_t n = 0;
    for (std::size_t i = 0; i < std::min(sr.x.size(), sr.y.size()); ++i) {
      if (!std::isfinite(sr.x[i]) || !std::isfinite(sr.y[i])) continue;
      points << px(sr.x[i]) << ',' << py(sr.y[i]) << ' ';
      ++n;
    }
    s << "<polyline class=\"series\" data-name=\"" << escape_html(sr.name) << "\" fill=\"none\" stroke=\"" << colour
      << "\" stroke-width=\"2\" points=\"" << points.str() << "\"/>";
    if (n <= 60)
      for (std::size_t i = 0; i < std::min(sr.x.size(), sr.y.size()); ++i)
        if (std::isfinite(sr.x[i]) && std::isfinite(sr.y[i]))
          s << "<circle cx=\"" << px(sr.x[i]) << "\" cy=\"" << py(sr.y[i]) << "\" r=\"2.5\" fill=\"" << colour << "\"/>";
    const double ly = top + 10 + 15.0 * static_cast<double>(k);  // legend right of the plot
    s << "<line x1=\"" << left + pw + 8 << "\" x2=\"" << left + pw + 26 << "\" y1=\"" << ly - 4 << "\" y2=\"" << ly - 4
      << "\" stroke=\"" << colour << "\" stroke-width=\"2\"/><text x=\"" << left + pw + 30 << "\" y=\"" << ly << "\">"
      << escape_html(sr.name) << "</text>";
  }
  s << "</svg>";
  return s.str();
}

}  // namespace toonreid
