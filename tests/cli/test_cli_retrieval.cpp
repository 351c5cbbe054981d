// The retrieval commands end to end on a small synthetic set: eval's outputs (JSON,
// Markdown, HTML, saved matrices), visualize, rank, ensemble and mine.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/cli_runner.h"
#include "data/image_io.h"
#include "model/model_checkpoint.h"
#include "toonreid_schema.h"
#include "retrieval/matrix_io.h"
#include "test_util.h"

namespace toonreid {
namespace {

using testing::contains;
using testing::run_cli;
namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class RetrievalCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    auto r = run_cli("synth --out " + data() + " --identities 6 --photos 3 --cartoons 3 --size 64 --seed 5 --quiet");
    ASSERT_EQ(r.code, 0) << r.out;
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string data() { return (*dir_ / "toons").string(); }
  static fs::path path(const std::string& name) { return *dir_ / name; }
  // The tiny config's randomly initialised ResNet-18: fast, and the same every run (run.seed).
  static std::string model_args() {
    return "--config " + testing::source_dir() + "/configs/tiny.yaml --data " + data() + " --quiet";
  }
  static testing::TempDir* dir_;
};
testing::TempDir* RetrievalCli::dir_ = nullptr;

TEST_F(RetrievalCli, EvalWritesJsonMarkdownHtmlAndMatrices) {
  auto r = run_cli("eval " + model_args() + " --json " + path("m.json").string() + " --markdown " +
                   path("m.md").string() + " --html " + path("report.html").string() + " --save " + path("saved").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "C2P")) << r.out;
  auto j = nlohmann::json::parse(slurp(path("m.json")));
  for (const char* dir : {"C2P", "P2C"}) {
    EXPECT_EQ(j[dir]["queries"].get<int>(), 9) << dir;  // 3 test identities x 3 images
    EXPECT_GE(j[dir]["mAP"].get<double>(), 0.0);
    EXPECT_LE(j[dir]["mAP"].get<double>(), 1.0);
  }
  EXPECT_TRUE(contains(slurp(path("m.md")), "| C2P |"));
  const std::string html = slurp(path("report.html"));
  EXPECT_TRUE(contains(html, "<svg")) << "CMC chart";
  EXPECT_TRUE(contains(html, "data:image/png;base64,")) << "ranked lists";
  EXPECT_FALSE(contains(html, "<script"));
  // Saved matrices: both formats, the documented shapes.
  torch::Tensor c2p = read_matrix(path("saved") / "c2p.npy");
  EXPECT_EQ(c2p.sizes(), (std::vector<int64_t>{9, 9}));
  EXPECT_TRUE(torch::equal(c2p, read_matrix(path("saved") / "c2p.trm")));
  EXPECT_EQ(read_matrix(path("saved") / "features.npy").size(0), 18);
  EXPECT_TRUE(fs::exists(path("saved") / "records.csv"));

  // Saved features evaluate without the model, to the same numbers; a mismatch is named.
  auto again = run_cli("eval --config " + testing::source_dir() + "/configs/tiny.yaml --data " + data() +
                       " --quiet --features " + (path("saved") / "features.trm").string() + " --json " +
                       path("again.json").string());
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_NEAR(nlohmann::json::parse(slurp(path("again.json")))["C2P"]["mAP"].get<double>(), j["C2P"]["mAP"].get<double>(), 1e-9);
  write_matrix(path("short.npy"), torch::zeros({5, 512}));
  auto wrong = run_cli("eval " + model_args() + " --features " + path("short.npy").string());
  EXPECT_EQ(wrong.code, 1);
  EXPECT_TRUE(contains(wrong.out, "5 feature rows for the 18 records")) << wrong.out;

  // A user-defined direction: the training split's images against the test split's
  // (identity-disjoint, so every query is skipped and counted).
  auto custom = run_cli("eval " + model_args() + " --query-split train --gallery-split test --json " + path("custom.json").string());
  ASSERT_EQ(custom.code, 0) << custom.out;
  auto jc = nlohmann::json::parse(slurp(path("custom.json")));
  EXPECT_EQ(jc["train->test"]["skipped"].get<int>(), 18) << jc.dump();
  EXPECT_EQ(jc["train->test"]["queries"].get<int>(), 0);
  auto half = run_cli("eval " + model_args() + " --query-split train");
  EXPECT_NE(half.code, 0);

  // Re-ranking and the rank adjustment are config switches; metrics stay valid.
  auto rr = run_cli("eval " + model_args() + " test.rerank.enabled=true test.rerank.k1=4 test.rerank.k2=2 "
                    "test.rank_adjust.enabled=true test.query_expansion.enabled=true test.query_expansion.k=2 --json " +
                    path("rr.json").string());
  ASSERT_EQ(rr.code, 0) << rr.out;
  auto jr = nlohmann::json::parse(slurp(path("rr.json")));
  EXPECT_EQ(jr["C2P"]["queries"].get<int>(), 9);
  auto bad = run_cli("eval " + model_args() + " test.rerank.lambda=2");
  EXPECT_EQ(bad.code, 1);
  EXPECT_TRUE(contains(bad.out, "test.rerank.lambda")) << bad.out;
}

TEST_F(RetrievalCli, VisualizeDrawsOneRowPerQuery) {
  auto r = run_cli("visualize " + model_args() + " --out " + path("vis").string() + " --queries 3 --top-k 4 --tile 48");
  ASSERT_EQ(r.code, 0) << r.out;
  cv::Mat c2p = read_image(path("vis") / "C2P.png");
  EXPECT_GT(c2p.rows, 3 * 48);
  EXPECT_LT(c2p.rows, 3 * 120);
  EXPECT_GT(c2p.cols, 5 * 48);
  EXPECT_TRUE(fs::exists(path("vis") / "P2C.png"));
  // Chosen queries by index or file name; unknown ones are named.
  auto chosen = run_cli("visualize " + model_args() + " --out " + path("vis2").string() +
                        " --direction C2P --query 0 --query C00002.jpg --tile 48");
  ASSERT_EQ(chosen.code, 0) << chosen.out;
  EXPECT_FALSE(fs::exists(path("vis2") / "P2C.png"));
  auto missing = run_cli("visualize " + model_args() + " --out " + path("vis3").string() + " --direction C2P --query 99");
  EXPECT_EQ(missing.code, 1);
  EXPECT_TRUE(contains(missing.out, "query 99 does not exist")) << missing.out;
}

TEST_F(RetrievalCli, RankWritesTopKAndPrediction) {
  auto r = run_cli("rank " + model_args() + " --out " + path("ranks.csv").string() + " --top-k 3");
  ASSERT_EQ(r.code, 0) << r.out;
  std::istringstream csv(slurp(path("ranks.csv")));
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line, "direction,query,query_identity,predicted_identity,correct,gallery,distances");
  int rows = 0;
  while (std::getline(csv, line)) {
    ++rows;
    const auto gallery = line.substr(0, line.rfind(','));
    const auto last = gallery.substr(gallery.rfind(',') + 1);
    EXPECT_EQ(std::count(last.begin(), last.end(), ' '), 2) << line;  // three gallery items
  }
  EXPECT_EQ(rows, 18);
}

TEST_F(RetrievalCli, EnsembleOfAModelWithItselfEqualsTheModel) {
  auto single = run_cli("eval " + model_args() + " --json " + path("single.json").string());
  ASSERT_EQ(single.code, 0) << single.out;
  for (const char* mode : {"--combine distances --normalize minmax", "--combine features"}) {
    auto e = run_cli("ensemble " + model_args() + " --models pretrained pretrained --model-weights 1 3 " + mode +
                     " --json " + path("ens.json").string() + " --markdown " + path("ens.md").string());
    ASSERT_EQ(e.code, 0) << e.out;
    auto a = nlohmann::json::parse(slurp(path("single.json"))), b = nlohmann::json::parse(slurp(path("ens.json")));
    EXPECT_NEAR(a["C2P"]["mAP"].get<double>(), b["C2P"]["mAP"].get<double>(), 1e-6) << mode;
    EXPECT_NEAR(a["P2C"]["mAP"].get<double>(), b["P2C"]["mAP"].get<double>(), 1e-6) << mode;
    EXPECT_TRUE(contains(slurp(path("ens.md")), "ensemble")) << mode;
  }
  // Another config's pretrained network as a member ("pretrained:CONFIG"): here the same
  // config, so the ensemble is again the model itself; a missing file is named.
  const std::string tiny_yaml = testing::source_dir() + "/configs/tiny.yaml";
  auto other = run_cli("ensemble " + model_args() + " --models pretrained pretrained:" + tiny_yaml +
                       " --combine features --json " + path("other.json").string());
  ASSERT_EQ(other.code, 0) << other.out;
  auto o = nlohmann::json::parse(slurp(path("other.json"))), a = nlohmann::json::parse(slurp(path("single.json")));
  EXPECT_NEAR(a["C2P"]["mAP"].get<double>(), o["C2P"]["mAP"].get<double>(), 1e-6);
  auto missing = run_cli("ensemble " + model_args() + " --models pretrained pretrained:" + path("nope.yaml").string());
  EXPECT_EQ(missing.code, 1);
  EXPECT_TRUE(contains(missing.out, "nope.yaml' not found")) << missing.out;
  // Overrides written after --models still count as overrides.
  auto late = run_cli("ensemble " + model_args() + " --models pretrained pretrained test.distance=cosine --json " +
                      path("late.json").string());
  ASSERT_EQ(late.code, 0) << late.out;
  auto bad = run_cli("ensemble " + model_args() + " --models pretrained pretrained --model-weights 1");
  EXPECT_EQ(bad.code, 1);
  EXPECT_TRUE(contains(bad.out, "1 weights for 2 models")) << bad.out;
}

// Two networks of different backbones and input pipelines (a 64-px ResNet-18 and the
// 112-px MobileFaceNet graph, each normalised its own way) in one ensemble: each member
// embeds the images as it was trained to, and the weights are chosen on validation
// identities, never on the split that is reported.
TEST_F(RetrievalCli, EnsembleAcrossBackbonesChoosesWeightsOnValidation) {
  const std::string tiny = "--config " + testing::source_dir() + "/configs/tiny.yaml data.root=" + data();
  const std::string short_run = " data.val_identities=1 solver.epochs=1 sampler.p=2 sampler.k=2 train.eval=false --quiet";
  auto a = run_cli("train " + tiny + " run.output_dir=" + path("ens_resnet").string() + short_run);
  ASSERT_EQ(a.code, 0) << a.out;
  const std::string mobile =
      " model.backbone=mobilefacenet model.pretrained=auto input.size=[112,112] input.mean=[0.5,0.5,0.5]"
      " input.std=[0.50196,0.50196,0.50196]";
  auto b = run_cli("train " + tiny + " run.output_dir=" + path("ens_mobile").string() + mobile + short_run);
  ASSERT_EQ(b.code, 0) << b.out;
  const std::string ckpt_a = (path("ens_resnet") / "model_final.pt").string();
  const std::string ckpt_b = (path("ens_mobile") / "model_final.pt").string();
  auto mean_map = [&](const std::string& file) {
    auto j = nlohmann::json::parse(slurp(file));
    return (j["C2P"]["mAP"].get<double>() + j["P2C"]["mAP"].get<double>()) / 2;
  };
  // Each model alone, on test and on the validation identity (eval refuses a config that
  // contradicts a checkpoint's pipeline, so MobileFaceNet's is restated for it; the
  // ensemble below takes each member's from its checkpoint).
  std::vector<double> test_map, val_map;
  for (const auto& ckpt : {ckpt_a, ckpt_b}) {
    for (const std::string split : {"test", "validation"}) {
      auto e = run_cli("eval " + model_args() + (ckpt == ckpt_b ? mobile : "") + " --weights " + ckpt + " --split " + split +
                       " data.val_identities=1 --json " + path("one.json").string());
      ASSERT_EQ(e.code, 0) << e.out;
      (split == "test" ? test_map : val_map).push_back(mean_map(path("one.json").string()));
    }
  }
  // All weight on one member gives that member's own figures: each used its own pipeline.
  for (int which = 0; which < 2; ++which) {
    auto e = run_cli("ensemble " + model_args() + " --models " + ckpt_a + " " + ckpt_b + " --model-weights " +
                     (which == 0 ? "1 0" : "0 1") + " --json " + path("ens2.json").string());
    ASSERT_EQ(e.code, 0) << e.out;
    EXPECT_NEAR(mean_map(path("ens2.json").string()), test_map[which], 1e-9) << which;
  }
  auto chosen = run_cli("ensemble " + model_args() + " --models " + ckpt_a + " " + ckpt_b +
                        " --choose-weights --weight-step 0.25 data.val_identities=1 --json " + path("ens3.json").string());
  ASSERT_EQ(chosen.code, 0) << chosen.out;
  const std::string marker = "weights chosen on validation (5 tried, mean mAP ";
  const auto at = chosen.out.find(marker);
  ASSERT_NE(at, std::string::npos) << chosen.out;
  // The grid includes each model alone, so the chosen point is at least as good as either.
  const double best = std::stod(chosen.out.substr(at + marker.size()));
  EXPECT_GE(best + 0.006, 100 * std::max(val_map[0], val_map[1])) << chosen.out;
  EXPECT_TRUE(fs::exists(path("ens3.json")));
  auto both = run_cli("ensemble " + model_args() + " --models " + ckpt_a + " " + ckpt_b +
                      " --choose-weights --model-weights 1 1");
  EXPECT_EQ(both.code, 1);
  EXPECT_TRUE(contains(both.out, "not both")) << both.out;
}

TEST_F(RetrievalCli, MineWritesPseudoLabelsAndTheirQuality) {
  auto describe = run_cli("mine " + model_args() + " --out " + path("mine_d").string() + " --describe");
  ASSERT_EQ(describe.code, 0) << describe.out;
  EXPECT_TRUE(contains(describe.out, "query nearest gallery")) << describe.out;
  // Thresholds wide enough that everything joins some anchor: every sample is labelled.
  auto im = run_cli("mine " + model_args() + " --out " + path("mine_im").string() + " mining.d_n=0.3 mining.d_p=5");
  ASSERT_EQ(im.code, 0) << im.out;
  auto j = nlohmann::json::parse(slurp(path("mine_im") / "mining.json"));
  EXPECT_EQ(j["method"], "identity");
  EXPECT_EQ(j["quality"]["labelled"].get<int>(), 18);
  EXPECT_GE(j["anchors"].get<int>(), 1);
  const std::string csv = slurp(path("mine_im") / "pseudo_labels.csv");
  EXPECT_TRUE(contains(csv, "im_00000")) << csv.substr(0, 200);
  auto km = run_cli("mine " + model_args() + " --out " + path("mine_km").string() + " --method kmeans --k 3");
  ASSERT_EQ(km.code, 0) << km.out;
  auto jk = nlohmann::json::parse(slurp(path("mine_km") / "mining.json"));
  EXPECT_EQ(jk["k"].get<int>(), 3);
  EXPECT_EQ(jk["quality"]["pseudo_identities"].get<int>(), 3);
  EXPECT_GT(jk["quality"]["precision"].get<double>(), 0.0);
  auto bad = run_cli("mine " + model_args() + " --out " + path("mine_bad").string() + " --method kmeans --k 99");
  EXPECT_EQ(bad.code, 1);
  EXPECT_TRUE(contains(bad.out, "k = 99 for 18 samples")) << bad.out;
}

TEST_F(RetrievalCli, TrainingEvaluatesAndKeepsBestOnValidationIdentities) {
  const std::string out = path("val_run").string();
  auto r = run_cli("train --config " + testing::source_dir() + "/configs/tiny.yaml data.root=" + data() +
                   " run.output_dir=" + out +
                   " data.val_identities=1 solver.epochs=2 train.eval_every=1 sampler.p=2 sampler.k=2 --quiet");
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string log = slurp(fs::path(out) / "train_log.jsonl");
  // Every evaluation ran on the held-out identity (3 photos, 3 cartoons), none on the test split.
  EXPECT_TRUE(contains(log, "\"on\":\"validation\"")) << log;
  EXPECT_FALSE(contains(log, "\"on\":\"test split")) << log;
  EXPECT_TRUE(contains(log, "\"queries\":3")) << log;
  EXPECT_TRUE(fs::exists(fs::path(out) / "checkpoints" / "best.pt"));
  // The held-out identity is not trained on: 2 training identities remain.
  ConfigSchema schema = toonreid_schema();
  EXPECT_EQ(load_model_checkpoint(fs::path(out) / "model_final.pt", schema).info.identities.size(), 2u);
  auto too_many = run_cli("train --config " + testing::source_dir() + "/configs/tiny.yaml data.root=" + data() +
                          " run.output_dir=" + out + "_x data.val_identities=3 --quiet");
  EXPECT_EQ(too_many.code, 1);
  EXPECT_TRUE(contains(too_many.out, "data.val_identities = 3")) << too_many.out;
}

// The pipeline's stages are tested through the library (tests/recipe); here only that
// the command runs them and prints the comparison.
TEST_F(RetrievalCli, PipelinePrintsTheComparison) {
  const std::string out = path("pipeline").string();
  auto r = run_cli("pipeline --config " + testing::source_dir() + "/configs/tiny.yaml --output " + out + " data.root=" +
                   data() + " solver.epochs=1 sampler.p=2 sampler.k=2 train.eval=false pipeline.stages=[baseline,rerank] --quiet");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "| Baseline |")) << r.out;
  EXPECT_TRUE(contains(r.out, "| + re-ranking |")) << r.out;
  EXPECT_TRUE(contains(slurp(fs::path(out) / "comparison.html"), "<svg")) << "no chart";
}

}  // namespace
}  // namespace toonreid
