#include "core/config.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "test_util.h"

namespace toonreid {
namespace {

using testing::TempDir;
using testing::write_text;

ConfigSchema small_schema() {
  ConfigSchema s;
  s.add_int("run.seed", 0, "seed").min(0);
  s.add_float("solver.lr", 0.01, "learning rate").greater_than(0);
  s.add_bool("solver.nesterov", false, "nesterov");
  s.add_string("model.name", "resnet50", "backbone").one_of({"resnet18", "resnet50", "dlib_resnet"});
  s.add_int_list("input.size", {256, 128}, "size").size(2).range(16, 4096);
  s.add_float_list("input.mean", {0.5, 0.5, 0.5}, "mean").size(3).range(0, 1);
  s.add_string_list("data.splits", {"train"}, "splits");
  s.add_float("input.erasing.prob", 0.5, "erasing").range(0, 1);
  return s;
}

// Expects a ConfigError whose message contains every one of `parts`.
template <class F>
void expect_config_error(F f, std::initializer_list<std::string> parts) {
  try {
    f();
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

TEST(Config, DefaultsWhenNothingIsSet) {
  ConfigSchema schema = small_schema();
  Config c(schema);
  EXPECT_EQ(c.get_int("run.seed"), 0);
  EXPECT_DOUBLE_EQ(c.get_float("solver.lr"), 0.01);
  EXPECT_EQ(c.get_string("model.name"), "resnet50");
  EXPECT_EQ(c.get_int_list("input.size"), (std::vector<long long>{256, 128}));
  EXPECT_EQ(c.source("run.seed"), "default");
}

TEST(Config, BaseChainAndOverridesMergeInOrder) {
  TempDir dir;
  write_text(dir / "base.yaml", "run:\n  seed: 3\nsolver:\n  lr: 0.1\n  nesterov: true\n");
  write_text(dir / "sub/mid.yaml", "_BASE_: ../base.yaml\nsolver:\n  lr: 0.05\ninput:\n  size: [320, 320]\n");
  write_text(dir / "sub/top.yaml", "_BASE_: mid.yaml\nmodel:\n  name: dlib_resnet\ninput:\n  erasing:\n    prob: 0.0\n");
  ConfigSchema schema = small_schema();
  Config c = load_config(schema, dir / "sub/top.yaml", {"solver.lr=0.2", "input.mean=[0.1, 0.2, 0.3]",
                                                        "data.splits=[train, extra]"});
  EXPECT_EQ(c.get_int("run.seed"), 3);             // from the base of the base
  EXPECT_TRUE(c.get_bool("solver.nesterov"));      // from the base
  EXPECT_DOUBLE_EQ(c.get_float("solver.lr"), 0.2); // command line beats every file
  EXPECT_EQ(c.get_string("model.name"), "dlib_resnet");
  EXPECT_EQ(c.get_int_list("input.size"), (std::vector<long long>{320, 320}));
  EXPECT_DOUBLE_EQ(c.get_float("input.erasing.prob"), 0.0);
  EXPECT_EQ(c.get_float_list("input.mean"), (std::vector<double>{0.1, 0.2, 0.3}));
  EXPECT_EQ(c.get_string_list("data.splits"), (std::vector<std::string>{"train", "extra"}));
  EXPECT_EQ(c.source("solver.lr"), "command line");
  EXPECT_EQ(c.source("run.seed"), (dir / "sub/../base.yaml").string());
}

TEST(Config, MultipleBasesApplyLeftToRight) {
  TempDir dir;
  write_text(dir / "a.yaml", "run:\n  seed: 1\nsolver:\n  lr: 0.5\n");
  write_text(dir / "b.yaml", "run:\n  seed: 2\n");
  write_text(dir / "c.yaml", "_BASE_: [a.yaml, b.yaml]\n");
  ConfigSchema schema = small_schema();
  Config c = load_config(schema, dir / "c.yaml");
  EXPECT_EQ(c.get_int("run.seed"), 2);
  EXPECT_DOUBLE_EQ(c.get_float("solver.lr"), 0.5);
}

TEST(Config, IntegerAcceptedWhereFloatExpected) {
  ConfigSchema schema = small_schema();
  Config c = make_config(schema, {"solver.lr=1"});
  EXPECT_DOUBLE_EQ(c.get_float("solver.lr"), 1.0);
}

TEST(Config, UnknownKeyNamesKeyFileAndSuggestion) {
  TempDir dir;
  write_text(dir / "bad.yaml", "solver:\n  lrr: 0.1\n");
  ConfigSchema schema = small_schema();
  expect_config_error([&] { load_config(schema, dir / "bad.yaml"); },
                      {"bad.yaml", "unknown key 'solver.lrr'", "did you mean 'solver.lr'"});
  expect_config_error([&] { make_config(schema, {"model.nam=resnet18"}); },
                      {"command line", "model.nam", "model.name"});
  write_text(dir / "section.yaml", "nosuchsection:\n  x: 1\n");
  expect_config_error([&] { load_config(schema, dir / "section.yaml"); }, {"section.yaml", "unknown key 'nosuchsection'"});
}

TEST(Config, WrongTypeNamesKeyValueAndFile) {
  TempDir dir;
  write_text(dir / "t.yaml", "run:\n  seed: abc\n");
  ConfigSchema schema = small_schema();
  expect_config_error([&] { load_config(schema, dir / "t.yaml"); }, {"t.yaml", "run.seed", "abc", "integer"});
  expect_config_error([&] { make_config(schema, {"run.seed=1.5"}); }, {"run.seed", "1.5", "integer"});
  expect_config_error([&] { make_config(schema, {"solver.nesterov=maybe"}); }, {"solver.nesterov", "boolean"});
  expect_config_error([&] { make_config(schema, {"input.size=320"}); }, {"input.size", "list of integers"});
  expect_config_error([&] { make_config(schema, {"input.size=[320, x]"}); }, {"input.size"});
  write_text(dir / "s.yaml", "solver: 0.1\n");
  expect_config_error([&] { load_config(schema, dir / "s.yaml"); }, {"s.yaml", "'solver' is a section"});
}

TEST(Config, OutOfRangeValuesAreRejected) {
  ConfigSchema schema = small_schema();
  expect_config_error([&] { make_config(schema, {"run.seed=-1"}); }, {"run.seed", "-1", ">= 0"});
  expect_config_error([&] { make_config(schema, {"solver.lr=0"}); }, {"solver.lr", "> 0"});
  expect_config_error([&] { make_config(schema, {"input.erasing.prob=1.5"}); }, {"input.erasing.prob", "[0, 1]"});
  expect_config_error([&] { make_config(schema, {"model.name=vgg"}); }, {"model.name", "vgg", "one of"});
  expect_config_error([&] { make_config(schema, {"input.size=[320]"}); }, {"input.size", "exactly 2"});
  expect_config_error([&] { make_config(schema, {"input.size=[8, 320]"}); }, {"input.size", "each element"});
  expect_config_error([&] { make_config(schema, {"solver.lr=.nan"}); }, {"solver.lr", "finite"});
}

TEST(Config, MalformedFilesAndOverrides) {
  TempDir dir;
  ConfigSchema schema = small_schema();
  expect_config_error([&] { load_config(schema, dir / "missing.yaml"); }, {"not found", "missing.yaml"});
  write_text(dir / "broken.yaml", "run:\n  seed: [1, 2\n");
  expect_config_error([&] { load_config(schema, dir / "broken.yaml"); }, {"broken.yaml", "invalid YAML"});
  write_text(dir / "list.yaml", "- 1\n- 2\n");
  expect_config_error([&] { load_config(schema, dir / "list.yaml"); }, {"list.yaml", "map"});
  write_text(dir / "nobase.yaml", "_BASE_: gone.yaml\n");
  expect_config_error([&] { load_config(schema, dir / "nobase.yaml"); }, {"nobase.yaml", "gone.yaml"});
  write_text(dir / "x.yaml", "_BASE_: y.yaml\n");
  write_text(dir / "y.yaml", "_BASE_: x.yaml\n");
  expect_config_error([&] { load_config(schema, dir / "x.yaml"); }, {"cycle"});
  expect_config_error([&] { make_config(schema, {"run.seed"}); }, {"key.sub=value"});
  write_text(dir / "empty.yaml", "");
  EXPECT_EQ(load_config(schema, dir / "empty.yaml").get_int("run.seed"), 0);
}

TEST(Config, YamlOutputLoadsBackToTheSameValues) {
  TempDir dir;
  ConfigSchema schema = small_schema();
  Config c = make_config(schema, {"solver.lr=0.25", "model.name=resnet18", "input.size=[64, 32]",
                                  "data.splits=['a: b', yes]"});
  write_text(dir / "out.yaml", c.to_yaml(false));
  Config back = load_config(schema, dir / "out.yaml");
  for (const auto& o : schema.options()) EXPECT_EQ(format_value(back.get(o.key)), format_value(c.get(o.key))) << o.key;
  std::string documented = c.to_yaml(true);
  EXPECT_NE(documented.find("# learning rate (> 0)"), std::string::npos) << documented;
}

TEST(ConfigSchema, RejectsBadDeclarations) {
  ConfigSchema s;
  s.add_int("a.b", 1, "x");
  EXPECT_THROW(s.add_int("a.b", 2, "again"), std::logic_error);
  EXPECT_THROW(s.add_int("nosection", 2, "x"), std::logic_error);
  s.add_int("a.c", -1, "bad default").min(0);
  EXPECT_THROW(Config c(s), std::logic_error);
}

}  // namespace
}  // namespace toonreid
