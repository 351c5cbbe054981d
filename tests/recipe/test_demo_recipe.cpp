// `make demo`'s recipe, run as `toonreid pipeline`: its comparison table (wall times
// aside) must equal tests/fixtures/demo_comparison.md (same data, seed and threads).
// A change that alters training or retrieval results on purpose regenerates that file.
//
// The trainings are chaotic: a different rounding in one matrix product changes the
// table. OpenBLAS, oneDNN and LibTorch's own kernels choose their code from the CPU, so
// the process runs with all three pinned to AVX2 code (OPENBLAS_CORETYPE=Haswell,
// DNNL/ONEDNN_MAX_CPU_ISA=AVX2, ATEN_CPU_CAPABILITY=avx2), the same instructions on any
// x86-64 CPU with AVX2: the table then depends on the code, not on the machine. (Without the pins two machines of this project, an Intel
// Xeon and an AMD EPYC, printed different tables from the same commit.)
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "cli/cli_runner.h"
#include "data/synth/synth_dataset.h"
#include "test_util.h"

namespace toonreid {
namespace {

std::string without_wall_times(const std::string& table) {
  return std::regex_replace(table, std::regex(R"( [0-9.]+ min \|)"), " |");
}

TEST(DemoRecipe, ComparisonTableIsUnchanged) {
  testing::TempDir dir;
  synth::SynthOptions o;  // make demo: --identities 60 --photos 8 --cartoons 8 --size 128 --seed 7
  o.identities = 60, o.photos = 8, o.cartoons = 8, o.size = 128, o.seed = 7;
  synth::generate(o, dir / "synth");
  const auto r = testing::run_cli_env(
      "OPENBLAS_CORETYPE=Haswell DNNL_MAX_CPU_ISA=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2",
      "pipeline --config " + testing::source_dir() + "/configs/pipeline_demo.yaml data.root=" + (dir / "synth").string() +
          " run.threads=2 pipeline.output_dir=" + (dir / "pipeline").string() + " --quiet");
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string table = testing::read_text(dir / "pipeline" / "comparison.md");
  ASSERT_FALSE(table.empty()) << r.out;
  std::ifstream in(testing::source_dir() + "/tests/fixtures/demo_comparison.md");
  std::stringstream expected;
  expected << in.rdbuf();
  EXPECT_EQ(without_wall_times(table), expected.str());
}

}  // namespace
}  // namespace toonreid
