// `toonreid train --resume RUN_DIR` as a user meets it: a training started with
// overrides is killed after its first checkpoint and resumed with --resume alone.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "cli/cli_runner.h"
#include "data/synth/synth_dataset.h"
#include "model/model_checkpoint.h"
#include "test_util.h"
#include "toonreid_schema.h"

namespace toonreid {
namespace {

namespace fs = std::filesystem;
using testing::contains;
using testing::run_cli;

// Starts the CLI with `args` (split on spaces) in a child process; output discarded.
pid_t start_cli(const std::vector<std::string>& args) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv{const_cast<char*>(TOONREID_CLI_PATH)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    if (FILE* null = std::fopen("/dev/null", "w")) dup2(fileno(null), 1), dup2(fileno(null), 2);
    execv(TOONREID_CLI_PATH, argv.data());
    _exit(127);
  }
  return pid;
}

TEST(TrainCli, KilledRunResumesFromItsFolderAloneToTheSameWeights) {
  testing::TempDir dir;
  synth::SynthOptions o;
  o.identities = 6, o.photos = 3, o.cartoons = 3, o.size = 64, o.seed = 5;
  synth::generate(o, dir / "toons");
  const std::vector<std::string> settings{"data.root=" + (dir / "toons").string(), "solver.epochs=3", "sampler.p=3",
                                          "sampler.k=2", "train.eval=false", "--quiet"};
  auto command = [&](const fs::path& out) {
    std::vector<std::string> a{"train", "--config", testing::source_dir() + "/configs/tiny.yaml",
                               "run.output_dir=" + out.string()};
    a.insert(a.end(), settings.begin(), settings.end());
    return a;
  };
  // Uninterrupted.
  const fs::path straight = dir / "straight";
  {
    const pid_t pid = start_cli(command(straight));
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  // Killed (SIGKILL: no chance to clean up) as soon as its first checkpoint exists.
  const fs::path killed = dir / "killed";
  {
    const pid_t pid = start_cli(command(killed));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
    while (!fs::exists(killed / "checkpoints" / "last.pt") && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the training ended before it could be killed";
    ASSERT_FALSE(fs::exists(killed / "model_final.pt"));
  }
  // The overrides are not repeated: the run's config.yaml holds them.
  auto resumed = run_cli("train --resume " + killed.string() + " --quiet");
  ASSERT_EQ(resumed.code, 0) << resumed.out;
  EXPECT_TRUE(contains(resumed.out, (killed / "model_final.pt").string())) << resumed.out;

  ConfigSchema schema = toonreid_schema();
  LoadedModel a = load_model_checkpoint(straight / "model_final.pt", schema);
  LoadedModel b = load_model_checkpoint(killed / "model_final.pt", schema);
  EXPECT_EQ(a.info.epoch, b.info.epoch);
  auto pa = a.model->named_parameters(), pb = b.model->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& p : pa) EXPECT_TRUE(torch::allclose(p.value(), pb[p.key()], 0, 1e-6)) << p.key();

  // A contradicting override is refused and named; a checkpoint file still needs --config.
  auto contradiction = run_cli("train --resume " + killed.string() + " solver.base_lr=0.5 --quiet");
  EXPECT_EQ(contradiction.code, 1);
  EXPECT_TRUE(contains(contradiction.out, "solver.base_lr: the run has 0.001, the command line gives 0.5"))
      << contradiction.out;
  auto file_only = run_cli("train --resume " + (killed / "checkpoints" / "last.pt").string() + " --quiet");
  EXPECT_EQ(file_only.code, 1);
  EXPECT_TRUE(contains(file_only.out, "--config is required")) << file_only.out;
}

}  // namespace
}  // namespace toonreid
