// toonreid align and input.align end to end on a small synthetic set: the aligned copy,
// its resumption, a corrupt image reported with exit code 3, and eval on inline-aligned
// faces through the chip cache.
#include <gtest/gtest.h>

#include <fstream>

#include "cli/cli_runner.h"
#include "data/image_io.h"
#include "test_util.h"

namespace toonreid {
namespace {

using testing::contains;
using testing::run_cli;
namespace fs = std::filesystem;

TEST(AlignCli, AlignedCopyResumesAndReportsCorruptImages) {
  testing::TempDir dir;
  const std::string toons = (dir / "toons").string();
  auto s = run_cli("synth --out " + toons + " --identities 4 --photos 2 --cartoons 2 --size 96 --seed 2 --quiet");
  ASSERT_EQ(s.code, 0) << s.out;
  const std::string out = (dir / "aligned").string();
  auto a = run_cli("align --data " + toons + " --out " + out + " --quiet face.detectors=[ssd]");
  ASSERT_EQ(a.code, 0) << a.out;
  EXPECT_TRUE(contains(a.out, "aligned 16 image(s)")) << a.out;
  EXPECT_TRUE(contains(a.out, "paths: ")) << a.out;
  EXPECT_TRUE(fs::exists(dir / "aligned/alignment.csv"));
  EXPECT_EQ(read_image(dir / "aligned/images/Toon_0001/P00001.jpg").size(), cv::Size(150, 150));
  // run.threads applies here as in every command that loads a config (it was ignored).
  auto again = run_cli("align --data " + toons + " --out " + out + " --quiet face.detectors=[ssd] run.threads=1");
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_TRUE(contains(again.out, "aligned 0 image(s)")) << again.out;
  EXPECT_TRUE(contains(again.out, "1 compute threads")) << again.out;
  EXPECT_TRUE(contains(again.out, "16 reused")) << again.out;
  // A split alone, and a corrupt image: reported by name, exit code 3, the rest aligned.
  { std::ofstream(dir / "toons/images/Toon_0001/P00002.jpg", std::ios::binary) << "not a jpeg"; }
  auto bad = run_cli("align --data " + toons + " --out " + (dir / "aligned2").string() + " --quiet face.detectors=[ssd]");
  EXPECT_EQ(bad.code, 3) << bad.out;
  EXPECT_TRUE(contains(bad.out, "could not align: ")) << bad.out;
  EXPECT_TRUE(contains(bad.out, "P00002.jpg")) << bad.out;
  auto bad_key = run_cli("align --data " + toons + " --out " + out + " face.detector=[ssd]");
  EXPECT_EQ(bad_key.code, 1);
  EXPECT_TRUE(contains(bad_key.out, "face.detector")) << bad_key.out;
}

TEST(AlignCli, EvalOnInlineAlignedFacesUsesTheCache) {
  testing::TempDir dir;
  const std::string toons = (dir / "toons").string();
  ASSERT_EQ(run_cli("synth --out " + toons + " --identities 6 --photos 2 --cartoons 2 --size 96 --seed 4 --quiet").code, 0);
  const std::string args = "eval --config " + testing::source_dir() + "/configs/synth_demo.yaml --data " + toons +
                           " input.align=true face.detectors=[ssd] face.cache_dir=" + (dir / "cache").string();
  auto first = run_cli(args);
  ASSERT_EQ(first.code, 0) << first.out;
  EXPECT_TRUE(contains(first.out, "aligned 12 image(s)")) << first.out;  // the test split: 3 identities x 4
  EXPECT_TRUE(contains(first.out, "C2P")) << first.out;
  auto second = run_cli(args);
  ASSERT_EQ(second.code, 0) << second.out;
  EXPECT_TRUE(contains(second.out, "all 12 reused")) << second.out;
  // Two views per image: the chip and the whole image.
  auto views = run_cli(args + " test.whole_image=concat --json " + (dir / "views.json").string());
  ASSERT_EQ(views.code, 0) << views.out;
  EXPECT_TRUE(contains(views.out, "C2P")) << views.out;
  // The identities held out of training can be evaluated by name.
  auto val = run_cli("eval --config " + testing::source_dir() + "/configs/synth_demo.yaml --data " + toons +
                     " data.val_identities=1 --split validation");
  ASSERT_EQ(val.code, 0) << val.out;
  EXPECT_TRUE(contains(val.out, "C2P")) << val.out;
}

}  // namespace
}  // namespace toonreid
