// End-to-end checks of the `toonreid` program as a user runs it.
#include <gtest/gtest.h>

#include "cli/cli_runner.h"
#include "test_util.h"

namespace toonreid {
namespace {

using testing::TempDir;
using testing::write_text;

using Result = testing::CliResult;
using testing::contains;
Result run(const std::string& args) { return testing::run_cli(args); }

TEST(Cli, EveryCommandHasHelp) {
  for (const char* cmd : {"", "config", "config show", "config defaults", "data", "data stats", "data preview",
                          "synth", "train", "extract", "eval", "visualize", "rank", "ensemble", "mine", "align"}) {
    Result r = run(std::string(cmd) + " --help");
    EXPECT_EQ(r.code, 0) << cmd << ": " << r.out;
    EXPECT_TRUE(contains(r.out, "Usage")) << cmd;
  }
  Result none = run("");
  EXPECT_NE(none.code, 0);
  Result unknown = run("frobnicate");
  EXPECT_NE(unknown.code, 0);
}

TEST(Cli, ConfigShowMergesAndReportsErrors) {
  std::string cfg = testing::source_dir() + "/configs/synth_demo.yaml";
  Result r = run("config show " + cfg + " sampler.p=4 loader.workers=3");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "p: 4  # from command line")) << r.out;
  EXPECT_TRUE(contains(r.out, "size: [150, 150]  # from")) << r.out;
  EXPECT_TRUE(contains(r.out, "type: cross_domain_pk"));

  Result bad_key = run("config show " + cfg + " sampler.pp=4");
  EXPECT_EQ(bad_key.code, 1);
  EXPECT_TRUE(contains(bad_key.out, "unknown key 'sampler.pp'")) << bad_key.out;
  Result bad_value = run("config show " + cfg + " input.flip_prob=2");
  EXPECT_EQ(bad_value.code, 1);
  EXPECT_TRUE(contains(bad_value.out, "input.flip_prob = 2.0: must be in [0, 1]")) << bad_value.out;

  TempDir dir;
  write_text(dir / "bad.yaml", "_BASE_: " + testing::source_dir() + "/configs/base.yaml\nloader:\n  workers: lots\n");
  Result bad_file = run("config show " + (dir / "bad.yaml").string());
  EXPECT_EQ(bad_file.code, 1);
  EXPECT_TRUE(contains(bad_file.out, "bad.yaml: loader.workers = 'lots': expected an integer")) << bad_file.out;
}

TEST(Cli, EveryShippedConfigLoads) {
  for (const auto& e : std::filesystem::recursive_directory_iterator(testing::source_dir() + "/configs")) {
    if (e.path().extension() != ".yaml") continue;
    Result r = run("config show " + e.path().string());
    EXPECT_EQ(r.code, 0) << e.path() << ": " << r.out;
  }
  Result d = run("config defaults");
  EXPECT_EQ(d.code, 0);
  EXPECT_TRUE(contains(d.out, "# Identities per batch (P)"));
}

TEST(Cli, SynthThenStatsThenPreview) {
  TempDir dir;
  auto out = (dir / "toons").string();
  Result s = run("synth --out " + out + " --identities 4 --photos 2 --cartoons 3 --size 64 --seed 3 --quiet");
  ASSERT_EQ(s.code, 0) << s.out;
  Result st = run("data stats " + out + " --verify");
  ASSERT_EQ(st.code, 0) << st.out;
  EXPECT_TRUE(contains(st.out, "train")) << st.out;
  EXPECT_TRUE(contains(st.out, "all 20 images decode")) << st.out;
  Result pv = run("data preview " + out + " --out " + (dir / "sheet.png").string());
  EXPECT_EQ(pv.code, 0) << pv.out;
  EXPECT_TRUE(std::filesystem::exists(dir / "sheet.png"));

  // A corrupt image is listed by path and the exit code says so.
  write_text(dir / "toons/images/Toon_0002/C00002.jpg", "broken");
  Result bad = run("data stats " + out + " --verify");
  EXPECT_EQ(bad.code, 3) << bad.out;
  EXPECT_TRUE(contains(bad.out, "Toon_0002/C00002.jpg")) << bad.out;
  EXPECT_TRUE(contains(bad.out, "1 of 20 images are unreadable")) << bad.out;
}

TEST(Cli, DataErrorsAreClear) {
  Result r = run("data stats /nonexistent/place");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.out, "error: data set not found: /nonexistent/place")) << r.out;
  Result s = run("synth --out /tmp/x --identities 1");
  EXPECT_NE(s.code, 0);
  EXPECT_TRUE(contains(s.out, "identities")) << s.out;
}

}  // namespace
}  // namespace toonreid
