#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "data/image_io.h"
#include "eval/html_report.h"
#include "eval/ranked_list.h"
#include "eval/svg_plot.h"
#include "eval/training_log.h"
#include "test_util.h"

namespace toonreid {
namespace {

namespace fs = std::filesystem;

TEST(HtmlReport, Base64AndEscaping) {
  EXPECT_EQ(base64_encode({}), "");
  EXPECT_EQ(base64_encode({'M'}), "TQ==");
  EXPECT_EQ(base64_encode({'M', 'a'}), "TWE=");
  EXPECT_EQ(base64_encode({'M', 'a', 'n'}), "TWFu");
  EXPECT_EQ(escape_html("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
}

TEST(SvgPlot, CountingAxesGetWholeNumberTicks) {
  EXPECT_EQ(axis_ticks(1, 4, 6, true), (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(axis_ticks(1, 12, 6, true), (std::vector<double>{2, 4, 6, 8, 10, 12}));
  EXPECT_EQ(axis_ticks(1, 50, 6, true), (std::vector<double>{10, 20, 30, 40, 50}));
  EXPECT_EQ(axis_ticks(0.5, 1.5, 6, true), (std::vector<double>{1}));  // one epoch
  EXPECT_EQ(axis_ticks(0, 1, 4, false), (std::vector<double>{0, 0.25, 0.5, 0.75, 1}));
  // An epoch chart (1..5) labels whole epochs only; it used to print 2.00, 3.00, 4.00 and
  // for other ranges 2.25, 3.50, 4.75.
  PlotOptions o;
  o.integer_x = true;
  const std::string svg = render_line_chart({{"loss", {1, 2, 3, 4, 5, 6}, {6, 5, 4, 3, 2, 1}}}, o);
  std::vector<std::string> labels;
  for (auto p = svg.find("class=\"xtick\""); p != std::string::npos; p = svg.find("class=\"xtick\"", p + 1)) {
    const auto open = svg.find('>', p) + 1;
    labels.push_back(svg.substr(open, svg.find('<', open) - open));
  }
  EXPECT_EQ(labels, (std::vector<std::string>{"1", "2", "3", "4", "5", "6"}));
}

TEST(HtmlReport, TrainingLogBecomesEpochMeans) {
  testing::TempDir dir;
  testing::write_text(dir / "log.jsonl",
                      "{\"type\":\"iter\",\"epoch\":1,\"iter\":1,\"loss_id\":4,\"loss_total\":5,\"acc\":0.0,\"lr\":0.1}\n"
                      "{\"type\":\"iter\",\"epoch\":1,\"iter\":2,\"loss_id\":2,\"loss_total\":3,\"acc\":0.5,\"lr\":0.2}\n"
                      "{\"type\":\"epoch\",\"epoch\":1,\"acc\":0.25}\n"
                      "{\"type\":\"iter\",\"epoch\":2,\"iter\":3,\"loss_id\":1,\"loss_total\":1.5,\"acc\":1.0,\"lr\":0.3}\n"
                      "{\"type\":\"eval\",\"epoch\":2,\"C2P\":{\"mAP\":0.4},\"P2C\":{\"mAP\":0.5}}\n");
  auto epochs = read_training_log(dir / "log.jsonl");
  ASSERT_EQ(epochs.size(), 2u);
  EXPECT_DOUBLE_EQ(epochs[0].losses.at("loss_id"), 3.0);
  EXPECT_DOUBLE_EQ(epochs[0].losses.at("loss_total"), 4.0);
  EXPECT_DOUBLE_EQ(epochs[0].accuracy, 0.25);
  EXPECT_DOUBLE_EQ(epochs[0].lr, 0.2);
  EXPECT_FALSE(epochs[0].c2p_map.has_value());
  EXPECT_DOUBLE_EQ(*epochs[1].c2p_map, 0.4);
  testing::write_text(dir / "bad.jsonl", "{\"type\":\"iter\"}\nnot json\n");
  try {
    read_training_log(dir / "bad.jsonl");
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:2"), std::string::npos) << e.what();
  }
}

// A two-identity direction over small generated images, ranked by hand-set distances.
struct Fixture {
  testing::TempDir dir;
  Dataset data;
  RetrievalDirection direction;
  Fixture() {
    std::vector<ImageRecord> records;
    for (int i = 0; i < 4; ++i) {
      const fs::path p = dir / ("img" + std::to_string(i) + ".png");
      write_image(p, testing::test_pattern(40 + 10 * i, 50, i));
      records.push_back({p, i % 2 ? "Bob" : "Alice", i < 2 ? Domain::Cartoon : Domain::Photo, "test"});
    }
    data = Dataset(records);
    direction.name = "C2P";
    direction.query_records = {0, 1};
    direction.gallery_records = {2, 3};
    direction.query_labels = {0, 1};
    direction.gallery_labels = {0, 1};
    evaluate_direction(direction, torch::tensor({0.2f, 0.6f, 0.3f, 0.4f}).view({2, 2}));
  }
};

TEST(RankedList, TopMatchesAndPicture) {
  Fixture f;
  auto top = top_matches(f.direction, 1, 2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].gallery, 0u);  // 0.3 < 0.4: the wrong identity first
  EXPECT_FALSE(top[0].correct);
  EXPECT_TRUE(top[1].correct);
  cv::Mat pic = render_ranked_lists(f.data, f.direction, {0, 1}, {2, 48});
  EXPECT_EQ(pic.type(), CV_8UC3);
  EXPECT_GT(pic.rows, 2 * 48);
  // Query 1's first match is wrong: a red frame pixel at the top-left of its first match cell.
  const int cell_w = 48 + 8, row_h = 48 + 8 + 30 + 6;
  const cv::Vec3b red = pic.at<cv::Vec3b>(row_h + 3 + 1, 4 + cell_w + 14 + 1);
  EXPECT_GT(red[0], 150);
  EXPECT_LT(red[1], 100);
  const cv::Vec3b green = pic.at<cv::Vec3b>(3 + 1, 4 + cell_w + 14 + 1);  // query 0's first match is right
  EXPECT_GT(green[1], 120);
  EXPECT_LT(green[0], 100);
  EXPECT_EQ(pick_queries(f.direction, 1, 7).size(), 1u);
  EXPECT_EQ(pick_queries(f.direction, 5, 7), (std::vector<std::size_t>{0, 1}));
}

// Headless Chromium, when installed: the report's charts and pictures must load.
std::string chromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    const std::string cmd = std::string("command -v ") + name + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return name;
  }
  return {};
}

TEST(HtmlReport, RendersInHeadlessChromium) {
  Fixture f;
  ReportInput in;
  in.facts = {{"model", "test <model>"}};
  in.directions = {&f.direction};
  in.identity_names = {"Alice", "Bob"};
  EpochRecord e1, e2;
  e1.epoch = 1, e1.losses = {{"loss_total", 3.0}, {"loss_id", 2.0}}, e1.accuracy = 0.2;
  e2.epoch = 2, e2.losses = {{"loss_total", 2.0}, {"loss_id", 1.5}}, e2.accuracy = 0.6, e2.c2p_map = 0.5;
  in.training = {e1, e2};
  in.pictures.push_back({"C2P lists", encode_png(render_ranked_lists(f.data, f.direction, {0, 1}, {2, 48}))});
  const std::string html = render_html_report(in);
  EXPECT_NE(html.find("test &lt;model&gt;"), std::string::npos);
  EXPECT_EQ(std::count(html.begin(), html.end(), '\n') > 5, true);
  int svgs = 0;
  for (auto p = html.find("<svg"); p != std::string::npos; p = html.find("<svg", p + 1)) ++svgs;
  EXPECT_EQ(svgs, 3);  // CMC, losses, accuracy

  const std::string browser = chromium();
  if (browser.empty()) GTEST_SKIP() << "chromium not installed";
  // A copy with a probe script that reports, once loaded, how many images decoded and
  // how many charts have a drawn size. (The report itself has no scripts.)
  std::string probe = html;
  probe.insert(probe.rfind("</body>"),
               "<script>addEventListener('load',()=>{const ok=[...document.images].filter(i=>i.complete&&i.naturalWidth>0)"
               ".length;const drawn=[...document.querySelectorAll('svg')].filter(s=>s.getBBox().width>0).length;"
               "document.body.setAttribute('data-probe','images='+ok+'/'+document.images.length+' charts='+drawn);});"
               "</script>");
  testing::write_text(f.dir / "probe.html", probe);
  const std::string cmd = browser + " --headless --no-sandbox --disable-gpu --virtual-time-budget=5000 --dump-dom file://" +
                          (f.dir / "probe.html").string() + " 2>/dev/null";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string dom;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) dom.append(buf, n);
  pclose(pipe);
  EXPECT_NE(dom.find("data-probe=\"images=1/1 charts=3\""), std::string::npos) << dom.substr(0, 300);
}

}  // namespace
}  // namespace toonreid
