// `toonreid index` and `toonreid search` as a user runs them on synthetic faces.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/cli_runner.h"
#include "test_util.h"

namespace toonreid {
namespace {

namespace fs = std::filesystem;
using testing::contains;
using testing::run_cli;

// The index's search structure: from the config (index.search, a FAISS-style description)
// or the --index flag over it; a description that is not one is refused by name.
TEST(IndexCli, SearchStructureComesFromTheConfigOrADescription) {
  testing::TempDir dir;
  const std::string data = (dir / "toons").string();
  ASSERT_EQ(run_cli("synth --out " + data + " --identities 4 --photos 2 --cartoons 2 --size 64 --seed 5 --quiet").code, 0);
  const std::string build = "index build --config " + testing::source_dir() + "/configs/tiny.yaml --data " + data +
                            " --split test --domain photo --quiet --out ";
  auto kind_of = [&](const std::string& index) {
    auto stats = run_cli("index stats --index " + index + " --json --quiet");
    return nlohmann::json::parse(stats.out.substr(stats.out.find('{')))["kind"].get<std::string>();
  };
  auto by_config = run_cli(build + (dir / "a").string() + " 'index.search=HNSW16,efSearch=40'");
  ASSERT_EQ(by_config.code, 0) << by_config.out;
  EXPECT_EQ(kind_of((dir / "a").string()), "hnsw");
  auto by_flag = run_cli(build + (dir / "b").string() + " --index 'IVF,nprobe=2' index.search=hnsw");
  ASSERT_EQ(by_flag.code, 0) << by_flag.out;
  EXPECT_EQ(kind_of((dir / "b").string()), "ivf");
  auto bad = run_cli(build + (dir / "c").string() + " --index LSH16");
  EXPECT_EQ(bad.code, 1) << bad.out;
  EXPECT_TRUE(contains(bad.out, "'LSH16'")) << bad.out;
  auto bad_config = run_cli(build + (dir / "d").string() + " index.search=HNSW32,nprobe=3");
  EXPECT_EQ(bad_config.code, 1) << bad_config.out;
  EXPECT_TRUE(contains(bad_config.out, "index.search")) << bad_config.out;
}

TEST(IndexCli, BuildSearchAddRemoveAndRefuseAnotherModel) {
  testing::TempDir dir;
  const std::string data = (dir / "toons").string();
  ASSERT_EQ(run_cli("synth --out " + data + " --identities 6 --photos 3 --cartoons 3 --size 64 --seed 5 --quiet").code, 0);
  const std::string tiny = "--config " + testing::source_dir() + "/configs/tiny.yaml";
  const std::string train = "train " + tiny + " data.root=" + data + " solver.epochs=1 sampler.p=3 sampler.k=2 train.eval=false --quiet";
  auto a = run_cli(train + " run.output_dir=" + (dir / "a").string());
  ASSERT_EQ(a.code, 0) << a.out;
  auto b = run_cli(train + " run.output_dir=" + (dir / "b").string() + " run.seed=1");
  ASSERT_EQ(b.code, 0) << b.out;
  const fs::path weights = dir / "model.pt";
  fs::copy_file(dir / "a" / "model_final.pt", weights);

  const std::string index = (dir / "gallery").string();
  auto built = run_cli("index build " + tiny + " --weights " + weights.string() + " --data " + data +
                       " --split test --domain photo --out " + index + " --quiet");
  ASSERT_EQ(built.code, 0) << built.out;
  EXPECT_TRUE(contains(built.out, "9 images of 3 identities")) << built.out;
  auto again = run_cli("index build " + tiny + " --data " + data + " --out " + index + " --quiet");
  EXPECT_EQ(again.code, 1);
  EXPECT_TRUE(contains(again.out, "not empty")) << again.out;

  // A cartoon of a test identity: ranked identities with the gallery photos' paths (a
  // model without input.align takes the whole picture as its one face).
  std::string cartoon;
  for (const auto& e : fs::recursive_directory_iterator(fs::path(data) / "images"))
    if (e.path().filename().string()[0] == 'C' && cartoon.empty()) cartoon = e.path().string();
  ASSERT_FALSE(cartoon.empty());
  auto found = run_cli("search --index " + index + " " + cartoon + " --top-k 2 --json --quiet");
  ASSERT_EQ(found.code, 0) << found.out;
  const auto pictures = nlohmann::json::parse(found.out.substr(found.out.find('[')));
  ASSERT_EQ(pictures.size(), 1u);
  ASSERT_EQ(pictures[0]["faces"].size(), 1u);
  const auto& j = pictures[0]["faces"];
  EXPECT_EQ(j[0]["detector"], "whole");
  EXPECT_EQ(j[0]["decision"], "uncalibrated");
  ASSERT_EQ(j[0]["hits"].size(), 2u);
  EXPECT_NE(j[0]["hits"][0]["identity"], j[0]["hits"][1]["identity"]);
  EXPECT_TRUE(fs::exists(j[0]["hits"][0]["source"].get<std::string>()));
  EXPECT_LE(j[0]["hits"][0]["distance"].get<double>(), j[0]["hits"][1]["distance"].get<double>());

  // What is not a picture is refused by name, with the server's rule (a half-written
  // JPEG is corrupt, not searched); formerly a folder exited 105 and half a JPEG was
  // searched.
  fs::create_directories(dir / "a_folder");
  auto folder = run_cli("search --index " + index + " " + (dir / "a_folder").string() + " --quiet");
  EXPECT_EQ(folder.code, 1) << folder.out;
  EXPECT_TRUE(contains(folder.out, "a_folder: not a file")) << folder.out;
  const std::string whole = testing::read_text(cartoon);
  testing::write_text(dir / "half.jpg", whole.substr(0, whole.size() / 2));
  auto half = run_cli("search --index " + index + " " + (dir / "half.jpg").string() + " --quiet");
  EXPECT_EQ(half.code, 1) << half.out;
  EXPECT_TRUE(contains(half.out, "corrupt JPEG image")) << half.out;

  // More images with the index's own model; removal; a consistent index.
  auto added = run_cli("index add --index " + index + " --data " + data + " --split test --domain cartoon --quiet");
  ASSERT_EQ(added.code, 0) << added.out;
  EXPECT_TRUE(contains(added.out, "9 images added, 18 in all")) << added.out;
  auto stats = run_cli("index stats --index " + index + " --json --quiet");
  const auto s = nlohmann::json::parse(stats.out.substr(stats.out.find('{')));
  EXPECT_EQ(s["items"], 18);
  EXPECT_EQ(s["domains"]["cartoon"], 9);
  const std::string someone = j[0]["hits"][0]["identity"];
  auto removed = run_cli("index remove --index " + index + " --identity " + someone + " --quiet");
  ASSERT_EQ(removed.code, 0) << removed.out;
  EXPECT_TRUE(contains(removed.out, "6 removed, 12 left")) << removed.out;
  EXPECT_EQ(run_cli("index remove --index " + index + " --identity Nobody --quiet").code, 1);
  auto verified = run_cli("index verify --index " + index + " --quiet");
  EXPECT_EQ(verified.code, 0) << verified.out;
  EXPECT_TRUE(contains(verified.out, "consistent")) << verified.out;

  // The checkpoint the index was built with is replaced by another model: refused.
  fs::copy_file(dir / "b" / "model_final.pt", weights, fs::copy_options::overwrite_existing);
  auto refused = run_cli("search --index " + index + " " + cartoon + " --quiet");
  EXPECT_EQ(refused.code, 1);
  EXPECT_TRUE(contains(refused.out, "would not be comparable")) << refused.out;
}

}  // namespace
}  // namespace toonreid
