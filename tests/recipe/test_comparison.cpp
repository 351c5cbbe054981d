// The pipeline's comparison writer: Table 2 rows with changes against the baseline, and
// the HTML page's chart of C2P / P2C mAP per stage above the table.
#include <gtest/gtest.h>

#include "recipe/comparison.h"
#include "test_util.h"

namespace toonreid {
namespace {

StageRecord stage(const std::string& name, double c2p, double p2c, double seconds) {
  StageRecord r;
  r.stage = name;
  r.seconds = seconds;
  r.metrics = {{"C2P", {{"mAP", c2p}, {"rank1", c2p + 0.1}}}, {"P2C", {{"mAP", p2c}, {"rank1", p2c + 0.1}}}};
  return r;
}

TEST(Comparison, MarkdownRowsCarryTheChangeAgainstTheBaseline) {
  std::vector<StageRecord> records{stage("baseline", 0.20, 0.40, 90), stage("rerank", 0.25, 0.30, 30)};
  records[0].train_accuracy = 0.5;
  const std::string md = comparison_markdown(records);
  EXPECT_NE(md.find("| Baseline | 50.00 | 20.00 | 30.00 | 40.00 | 50.00 | +0.0% | +0.0% | 1.5 min |"), std::string::npos) << md;
  EXPECT_NE(md.find("| + re-ranking | – | 25.00 | 35.00 | 30.00 | 40.00 | +25.0% | -25.0% | 0.5 min |"), std::string::npos) << md;
  // Without a baseline there is nothing to compare with.
  EXPECT_NE(comparison_markdown({records[1]}).find("| – | – |"), std::string::npos);
}

TEST(Comparison, HtmlShowsAChartOfEveryStageAboveTheTable) {
  const std::vector<StageRecord> records{stage("baseline", 0.2, 0.4, 1), stage("identity_mining", 0.3, 0.45, 1),
                                         stage("ensemble", 0.35, 0.5, 1)};
  const std::string html = comparison_html(records, "configs/x.yaml");
  const auto svg = html.find("<svg"), table = html.find("<table");
  ASSERT_NE(svg, std::string::npos);
  EXPECT_LT(svg, table);
  for (const char* label : {">Baseline<", ">+ IM<", ">+ ensemble<", "data-name=\"C2P mAP\"", "data-name=\"P2C mAP\""})
    EXPECT_NE(html.find(label), std::string::npos) << label;
  // One x tick per stage, no numeric ticks in between.
  std::size_t ticks = 0;
  for (auto p = html.find("class=\"xtick\""); p != std::string::npos; p = html.find("class=\"xtick\"", p + 1)) ++ticks;
  EXPECT_EQ(ticks, 3u);
}

TEST(Comparison, StageRecordsRoundTripThroughJson) {
  StageRecord r = stage("kmeans", 0.1, 0.2, 12.5);
  r.train_accuracy = 0.75;
  r.extra = {{"mining", {{"k", 3}}}};
  r.model = "runs/x/model_final.pt";
  const StageRecord back = stage_record_from_json(to_json(r));
  EXPECT_EQ(back.stage, r.stage);
  EXPECT_EQ(back.seconds, r.seconds);
  EXPECT_EQ(*back.train_accuracy, 0.75);
  EXPECT_EQ(back.metrics, r.metrics);
  EXPECT_EQ(back.extra, r.extra);
  EXPECT_EQ(back.model, r.model);
  EXPECT_TRUE(is_stage("kmeans"));
  EXPECT_FALSE(is_stage("magic"));
}

}  // namespace
}  // namespace toonreid
