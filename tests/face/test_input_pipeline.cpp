// A checkpoint's input pipeline is used by whoever embeds with it: settings the command
// leaves at their defaults come from the checkpoint, a config file that contradicts it is
// refused by name, a command-line override is applied (and warned about).
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"
#include "eval/cross_domain.h"
#include "face/input_pipeline.h"
#include "test_util.h"
#include "toonreid_schema.h"

namespace toonreid {
namespace {

TEST(InputPipeline, DefaultsComeFromTheCheckpoint) {
  ConfigSchema schema = toonreid_schema();
  const Config trained = load_config_text(schema, "input:\n  align: true\n  size: [150, 150]\nface:\n  detectors: [ssd]\n", "ckpt.yaml");
  const Config given = make_config(schema);
  const Config out = with_checkpoint_pipeline(given, trained, "best.pt");
  EXPECT_TRUE(out.get_bool("input.align"));
  EXPECT_EQ(out.get_int_list("input.size"), (std::vector<long long>{150, 150}));
  EXPECT_EQ(out.get_string_list("face.detectors"), (std::vector<std::string>{"ssd"}));
  EXPECT_EQ(out.source("input.align"), "best.pt");
  // Where files live is not part of the pipeline.
  const auto keys = input_pipeline_keys(schema);
  EXPECT_EQ(std::count(keys.begin(), keys.end(), "face.cache_dir"), 0);
  EXPECT_EQ(std::count(keys.begin(), keys.end(), "face.chip_template"), 1);
  EXPECT_EQ(std::count(keys.begin(), keys.end(), "model.backbone"), 1);
}

TEST(InputPipeline, AContradictingFileIsRefusedNamingBothValues) {
  ConfigSchema schema = toonreid_schema();
  const Config trained = load_config_text(schema, "input:\n  align: true\n", "ckpt.yaml");
  const Config given = load_config_text(schema, "input:\n  align: false\n", "configs/cavi_cpu.yaml");
  try {
    with_checkpoint_pipeline(given, trained, "runs/x/best.pt");
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("input.align"), std::string::npos) << m;
    EXPECT_NE(m.find("runs/x/best.pt"), std::string::npos) << m;
    EXPECT_NE(m.find("configs/cavi_cpu.yaml gives false"), std::string::npos) << m;
    EXPECT_NE(m.find("checkpoint has true"), std::string::npos) << m;
  }
  // An ensemble member: the checkpoint's pipeline wins.
  EXPECT_TRUE(with_checkpoint_pipeline(given, trained, "m.pt", PipelineConflicts::CheckpointWins).get_bool("input.align"));
}

TEST(InputPipeline, ACommandLineOverrideIsTheExplicitWayAround) {
  ConfigSchema schema = toonreid_schema();
  const Config trained = load_config_text(schema, "input:\n  align: true\n", "ckpt.yaml");
  const Config given = make_config(schema, {"input.align=false"});
  EXPECT_FALSE(with_checkpoint_pipeline(given, trained, "best.pt").get_bool("input.align"));
  EXPECT_FALSE(with_checkpoint_pipeline(given, trained, "best.pt", PipelineConflicts::CheckpointWins).get_bool("input.align"));
}

TEST(QueryPath, MetricsAreBrokenDownByTheQuerysFacePath) {
  std::vector<ImageRecord> records;
  const char* paths[] = {"ssd", "letterbox", "ssd", "dlib"};
  for (int i = 0; i < 4; ++i) {
    records.emplace_back("c" + std::to_string(i) + ".png", "id" + std::to_string(i), Domain::Cartoon);
    records.back().face_path = paths[i];
  }
  const Dataset data(std::move(records), "mem");
  RetrievalDirection d;
  d.name = "C2P";
  d.query_records = {0, 1, 2, 3};
  d.metrics.per_query = {{0, 1, 0, 1.0, 1.0}, {1, 1, 3, 0.25, 0.25}, {2, 1, 1, 0.5, 0.5}, {3, 0, -1, 0, 0}};
  const auto by = by_query_path(d, data);
  ASSERT_EQ(by.size(), 2u);  // dlib's only query had no true match
  EXPECT_EQ(by[0].path, "ssd");
  EXPECT_EQ(by[0].queries, 2u);
  EXPECT_NEAR(by[0].mAP, 0.75, 1e-12);
  EXPECT_NEAR(by[0].rank1, 0.5, 1e-12);
  EXPECT_NEAR(by[0].share, 2.0 / 3, 1e-12);
  EXPECT_EQ(by[1].path, "letterbox");
  EXPECT_NEAR(by[1].mAP, 0.25, 1e-12);
  const std::string table = format_path_table({d}, data);
  EXPECT_NE(table.find("letterbox"), std::string::npos) << table;
  nlohmann::json j;
  add_path_json(j, {d}, data);
  EXPECT_EQ(j["C2P"]["by_query_path"].size(), 2u);
  // Not aligned: nothing to break down.
  const Dataset plain({ImageRecord("a.png", "a", Domain::Cartoon)}, "mem");
  RetrievalDirection p;
  p.query_records = {0};
  p.metrics.per_query = {{0, 1, 0, 1.0, 1.0}};
  EXPECT_TRUE(by_query_path(p, plain).empty());
}

}  // namespace
}  // namespace toonreid
