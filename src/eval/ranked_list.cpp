#include "eval/ranked_list.h"

#include <algorithm>
#include <cstdio>
#include <numeric>

#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/random.h"
#include "data/image_io.h"

namespace toonreid {

std::vector<Match> top_matches(const RetrievalDirection& d, std::size_t query, std::size_t k) {
  if (!d.distances.defined() || query >= static_cast<std::size_t>(d.distances.size(0)))
    throw Error("ranked list: query " + std::to_string(query) + " out of range (or no distances computed)");
  const at::Tensor row = d.distances[static_cast<int64_t>(query)].to(torch::kFloat).contiguous();
  const float* r = row.data_ptr<float>();
  std::vector<std::size_t> order(static_cast<std::size_t>(row.size(0)));
  std::iota(order.begin(), order.end(), 0);
  k = std::min(k, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<long>(k), order.end(),
                    [&](std::size_t a, std::size_t b) { return r[a] < r[b] || (r[a] == r[b] && a < b); });
  std::vector<Match> out;
  for (std::size_t i = 0; i < k; ++i)
    out.push_back({order[i], r[order[i]], d.gallery_labels[order[i]] == d.query_labels[query]});
  return out;
}

std::vector<std::size_t> pick_queries(const RetrievalDirection& d, std::size_t count, std::uint64_t seed) {
  std::vector<std::size_t> all(d.query_records.size());
  std::iota(all.begin(), all.end(), 0);
  if (count >= all.size()) return all;
  Rng rng(seed);
  std::shuffle(all.begin(), all.end(), rng.engine());
  all.resize(count);
  std::sort(all.begin(), all.end());
  return all;
}

namespace {

// The image fitted into a tile x tile white square, or a grey "unreadable" tile.
cv::Mat tile_image(ImageDecoder& decoder, const std::filesystem::path& path, int tile) {
  cv::Mat out(tile, tile, CV_8UC3, cv::Scalar(255, 255, 255));
  try {
    cv::Mat img = decoder.read(path, tile, tile);
    const double s = std::min(static_cast<double>(tile) / img.cols, static_cast<double>(tile) / img.rows);
    cv::Mat resized;
    cv::resize(img, resized, cv::Size(std::max(1, static_cast<int>(img.cols * s)), std::max(1, static_cast<int>(img.rows * s))),
               0, 0, cv::INTER_AREA);
    resized.copyTo(out(cv::Rect((tile - resized.cols) / 2, (tile - resized.rows) / 2, resized.cols, resized.rows)));
  } catch (const std::exception& e) {
    spdlog::warn("ranked list: {}", e.what());
    out.setTo(cv::Scalar(200, 200, 200));
    cv::putText(out, "unreadable", cv::Point(4, tile / 2), cv::FONT_HERSHEY_SIMPLEX, 0.35, cv::Scalar(60, 60, 60), 1,
                cv::LINE_AA);
  }
  return out;
}

std::string fit_text(const std::string& text, int width, double scale) {
  std::string t = text;
  int baseline = 0;
  while (t.size() > 3 && cv::getTextSize(t, cv::FONT_HERSHEY_SIMPLEX, scale, 1, &baseline).width > width)
    t = t.substr(0, t.size() - 4) + "..";
  return t;
}

}  // namespace

cv::Mat render_ranked_lists(const Dataset& data, const RetrievalDirection& d, const std::vector<std::size_t>& queries,
                            const RankedListOptions& o) {
  const int tile = std::max(32, o.tile), frame = 4, gap = 14, text_h = 30;
  const int cell_w = tile + 2 * frame, cell_h = tile + 2 * frame + text_h;
  const int k = static_cast<int>(std::min(o.top_k, d.gallery_records.size()));
  const int width = cell_w * (k + 1) + gap + 8, height = std::max<int>(1, static_cast<int>(queries.size())) * (cell_h + 6);
  cv::Mat canvas(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  ImageDecoder decoder;
  const double scale = 0.36;
  const cv::Scalar blue(40, 90, 220), green(30, 160, 60), red(210, 40, 40), ink(20, 20, 20);
  auto draw_cell = [&](int x, int y, std::size_t record, const cv::Scalar& colour, const std::string& line1,
                       const std::string& line2) {
    cv::rectangle(canvas, cv::Rect(x, y, cell_w, tile + 2 * frame), colour, cv::FILLED);
    tile_image(decoder, data[record].path, tile).copyTo(canvas(cv::Rect(x + frame, y + frame, tile, tile)));
    cv::putText(canvas, fit_text(line1, cell_w, scale), cv::Point(x + 2, y + tile + 2 * frame + 12), cv::FONT_HERSHEY_SIMPLEX,
                scale, ink, 1, cv::LINE_AA);
    cv::putText(canvas, fit_text(line2, cell_w, scale), cv::Point(x + 2, y + tile + 2 * frame + 25), cv::FONT_HERSHEY_SIMPLEX,
                scale, ink, 1, cv::LINE_AA);
  };
  for (std::size_t row = 0; row < queries.size(); ++row) {
    const std::size_t q = queries[row];
    if (q >= d.query_records.size()) throw Error("ranked list: query " + std::to_string(q) + " out of range");
    const int y = static_cast<int>(row) * (cell_h + 6) + 3;
    const std::size_t qrec = d.query_records[q];
    draw_cell(4, y, qrec, blue, data[qrec].identity, "query " + std::to_string(q));
    const auto matches = top_matches(d, q, static_cast<std::size_t>(k));
    for (std::size_t i = 0; i < matches.size(); ++i) {
      const std::size_t grec = d.gallery_records[matches[i].gallery];
      char dist[32];
      std::snprintf(dist, sizeof dist, "#%zu d=%.3f", i + 1, static_cast<double>(matches[i].distance));
      draw_cell(4 + cell_w + gap + static_cast<int>(i) * cell_w, y, grec, matches[i].correct ? green : red,
                data[grec].identity, dist);
    }
  }
  return canvas;
}

}  // namespace toonreid
