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
};

// An <svg> element with axes, ticks, one polyline (with markers) per series and a legend.
std::string render_line_chart(const std::vector<PlotSeries>& series, const PlotOptions& options);

// Escapes &, <, >, " and ' for HTML / SVG text.
std::string escape_html(const std::string& text);

}  // namespace toonreid
