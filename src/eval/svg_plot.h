// Small line charts as inline SVG (no scripts, no external files), for the HTML report.
#pragma once

#include <string>
#include <vector>

namespace toonreid {

struct PlotSeries {
  std::string name;
  std::vector<double> x, y;
};

struct PlotOptions {
  std::string title, x_label, y_label;
  int width = 560, height = 300;
  bool y_from_zero = false;  // include 0 in the y range
  bool integer_x = false;    // x counts something (epochs, ranks): ticks only at whole numbers
  bool log_x = false;        // x on a log10 scale (false-alarm rates): ticks at powers of ten; x <= 0 left out
  // Names of x = 0, 1, 2, ... (e.g. pipeline stages): one labelled tick per name.
  std::vector<std::string> x_categories;
};

// An <svg> element with axes, ticks, one polyline (with markers) per series and a legend.
std::string render_line_chart(const std::vector<PlotSeries>& series, const PlotOptions& options);

// Tick positions for an axis from lo to hi: about `target` evenly spaced values; with
// `integers`, whole numbers spaced by 1, 2, 5, 10, 20, ... (never 2.25 epochs).
std::vector<double> axis_ticks(double lo, double hi, int target, bool integers);

// Escapes &, <, >, " and ' for HTML / SVG text.
std::string escape_html(const std::string& text);

}  // namespace toonreid
