// Open-set use as a user runs it, on synthetic toon faces: calibrate on validation
// identities (and not on the test split), eval --open-set, a calibrated index that
// answers every face of a picture with match or unknown, a picture without a face,
// `toonreid scan` (report, agreement with search, unreadable pictures, resuming, two
// ranks), and the web page in headless Chromium on a picture with two faces.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "cli/cli_runner.h"
#include "data/csv_manifest.h"
#include "data/image_io.h"
#include "test_util.h"

namespace toonreid {
namespace {

namespace fs = std::filesystem;
using testing::contains;
using testing::run_cli;

class OpenSetCli : public ::testing::Test {
 protected:
  // 24 identities (12 train, 12 test); 6 training identities held out for validation.
  // The gallery: the photos and first cartoon of Toon_0013 and Toon_0014, calibrated on
  // the validation identities. The picture: Toon_0013's enrolled cartoon and face-api's
  // cartoon test face (nobody enrolled) side by side on a canvas. (Synthetic photos are
  // found by dlib's detector alone, and on a canvas not reliably: cartoons are the faces
  // of this picture; the SSD scores them 0.67 and 0.77.)
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    ASSERT_EQ(run_cli("synth --out " + data() + " --identities 24 --photos 4 --cartoons 4 --size 128 --seed 3 --quiet").code, 0);
    std::ofstream m(*dir_ / "gallery.csv");
    m << "path,identity,domain\n";
    for (const char* id : {"Toon_0013", "Toon_0014"}) {
      for (int i = 1; i <= 4; ++i) m << data() << "/images/" << id << "/P0000" << i << ".jpg," << id << ",photo\n";
      m << data() << "/images/" << id << "/C00001.jpg," << id << ",cartoon\n";
    }
    m.close();
    auto r = run_cli("index build --config " + config() + " " + common() + " --manifest " + (*dir_ / "gallery.csv").string() +
                     " --out " + index() + " --calibrate-split validation --quiet");
    ASSERT_EQ(r.code, 0) << r.out;
    ASSERT_TRUE(contains(r.out, "calibrated")) << r.out;
    // The two-face picture and where each face is.
    const cv::Mat a = read_image(data() + "/images/Toon_0013/C00001.jpg");
    const cv::Mat b = read_image(testing::source_dir() + "/tests/fixtures/faceapi/faces/cartoon_a.png");
    cv::Mat canvas(std::max(a.rows, b.rows) + 80, a.cols + b.cols + 120, CV_8UC3, cv::Scalar(235, 235, 225));
    tiles_ = {cv::Rect(40, 40, a.cols, a.rows), cv::Rect(80 + a.cols, 40, b.cols, b.rows)};
    a.copyTo(canvas(tiles_[0]));
    b.copyTo(canvas(tiles_[1]));
    write_image(picture(), canvas);
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string data() { return (*dir_ / "toons").string(); }
  static std::string index() { return (*dir_ / "gallery").string(); }
  static std::string picture() { return (*dir_ / "two_faces.png").string(); }
  static std::string faceless() { return testing::source_dir() + "/tests/fixtures/faceapi/faces/gradient.png"; }
  static std::string config() { return testing::source_dir() + "/configs/synth_demo.yaml"; }
  static std::string common() {
    return "data.root=" + data() + " data.val_identities=6 input.align=true face.cache_dir=" + (*dir_ / "faces").string();
  }
  static nlohmann::json search_json(const std::string& args) {
    auto r = run_cli("search --index " + index() + " " + args + " --json --quiet");
    EXPECT_EQ(r.code, 0) << r.out;
    try {
      return nlohmann::json::parse(r.out);
    } catch (const std::exception&) {
      ADD_FAILURE() << r.out;
      return nlohmann::json::array();
    }
  }
  static testing::TempDir* dir_;
  static std::vector<cv::Rect> tiles_;
};
testing::TempDir* OpenSetCli::dir_ = nullptr;
std::vector<cv::Rect> OpenSetCli::tiles_;

TEST_F(OpenSetCli, CalibrateUsesValidationIdentitiesNeverTheTestSplit) {
  const std::string out = (*dir_ / "cal.json").string();
  auto r = run_cli("calibrate --config " + config() + " " + common() + " --out " + out + " --quiet");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "cartoon queries against a photo gallery")) << r.out;
  const nlohmann::json j = nlohmann::json::parse(testing::read_text(out));
  EXPECT_EQ(j["format"], "toonreid calibration 1");
  EXPECT_EQ(j["score"]["normalization"], "snorm");  // the validation-chosen default
  ASSERT_EQ(j["directions"].size(), 2u);
  EXPECT_EQ(j["directions"][0]["identities"], 6);
  r = run_cli("calibrate --config " + config() + " " + common() + " --split test --out " + out + ".x --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.out, "test split")) << r.out;
  r = run_cli("calibrate --config " + config() + " data.root=" + data() + " --out " + out + ".x --quiet");
  EXPECT_EQ(r.code, 1);  // no validation identities held out
  EXPECT_TRUE(contains(r.out, "data.val_identities")) << r.out;
  EXPECT_FALSE(fs::exists(out + ".x"));
  r = run_cli("calibrate --config " + config() + " " + common() + " open_set.normalization=ratio --out " + out + ".x --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.out, "cannot be calibrated")) << r.out;

  // eval --open-set on the test split with these thresholds: every part of the report.
  const std::string json = (*dir_ / "open_set.json").string(), html = (*dir_ / "report.html").string();
  r = run_cli("eval --config " + config() + " " + common() + " --open-set --calibration " + out + " open_set.repeats=2 --json " +
              json + " --html " + html + " --quiet");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "C2P verification: AUC")) << r.out;
  EXPECT_TRUE(contains(r.out, "calibrated: DIR  realised FPIR")) << r.out;
  const nlohmann::json e = nlohmann::json::parse(testing::read_text(json));
  const auto& os = e["C2P"]["open_set"];
  EXPECT_EQ(os["identification"]["enrolled"], 6);  // half of the 12 test identities
  EXPECT_EQ(os["trials"].size(), 2u);
  EXPECT_EQ(os["calibrated"].size(), 4u);
  EXPECT_GT(os["verification"]["auc"].get<double>(), 0.5);
  EXPECT_FALSE(os["identification"]["det"].empty());
  const std::string page = testing::read_text(html);
  EXPECT_TRUE(contains(page, "id=\"det\"") && contains(page, "id=\"roc\"")) << "no DET / ROC chart";
  r = run_cli("eval --config " + config() + " " + common() + " --calibration " + out + " --quiet");
  EXPECT_EQ(r.code, 1);  // --calibration without --open-set
}

TEST_F(OpenSetCli, SearchAnswersEveryFaceWithMatchOrUnknown) {
  const nlohmann::json j = search_json(picture() + " --top-k 2");
  ASSERT_EQ(j.size(), 1u);
  const auto& faces = j[0]["faces"];
  ASSERT_EQ(faces.size(), 2u) << j.dump(1);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& b = faces[i]["box"];
    const cv::Point2f centre(b[0].get<float>() + b[2].get<float>() / 2, b[1].get<float>() + b[3].get<float>() / 2);
    EXPECT_TRUE(tiles_[i].contains(centre)) << "face " << i + 1 << " at " << centre;
    EXPECT_EQ(faces[i]["face"], i + 1);
    EXPECT_EQ(faces[i]["hits"].size(), 2u);
    EXPECT_DOUBLE_EQ(faces[i]["fpir"].get<double>(), 0.01);
  }
  EXPECT_EQ(faces[0]["decision"], "match") << faces[0].dump();
  EXPECT_EQ(faces[0]["identity"], "Toon_0013");
  EXPECT_LT(faces[0]["score"].get<double>(), faces[0]["threshold"].get<double>());
  EXPECT_EQ(faces[1]["decision"], "unknown") << faces[1].dump();  // nobody enrolled
  EXPECT_GE(faces[1]["score"].get<double>(), faces[1]["threshold"].get<double>());
  // A looser operating point lowers the bar (a higher threshold).
  const nlohmann::json loose = search_json(picture() + " --fpir 0.3");
  EXPECT_GT(loose[0]["faces"][0]["threshold"].get<double>(), faces[0]["threshold"].get<double>());
  // One face per picture on request; a picture without a face says so, or falls back.
  EXPECT_EQ(search_json(picture() + " --largest-face")[0]["faces"].size(), 1u);
  const nlohmann::json none = search_json(faceless());
  EXPECT_TRUE(none[0]["faces"].empty());
  EXPECT_EQ(none[0]["message"], "no face found");
  const nlohmann::json whole = search_json(faceless() + " --fallback");
  ASSERT_EQ(whole[0]["faces"].size(), 1u);
  EXPECT_EQ(whole[0]["faces"][0]["detector"], "letterbox");
  auto r = run_cli("search --index " + index() + " " + picture() + " --quiet");
  EXPECT_TRUE(contains(r.out, "MATCH Toon_0013") && contains(r.out, "UNKNOWN, closest")) << r.out;
  r = run_cli("search --index " + index() + " " + (*dir_).path().string() + " --quiet");
  EXPECT_EQ(r.code, 1);  // a folder is not a picture
  EXPECT_TRUE(contains(r.out, "not a file")) << r.out;
}

TEST_F(OpenSetCli, AnUncalibratedIndexAnswersTopKMarkedUncalibrated) {
  const std::string plain = (*dir_ / "plain").string();
  auto r = run_cli("index build --config " + config() + " " + common() + " --manifest " + (*dir_ / "gallery.csv").string() +
                   " --out " + plain + " --quiet");
  ASSERT_EQ(r.code, 0) << r.out;
  r = run_cli("search --index " + plain + " " + picture() + " --json --quiet");
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j[0]["faces"].size(), 2u);
  EXPECT_EQ(j[0]["faces"][0]["decision"], "uncalibrated");
  EXPECT_TRUE(j[0]["faces"][0]["threshold"].is_null());
  EXPECT_EQ(j[0]["faces"][0]["hits"][0]["identity"], "Toon_0013");
  // An explicit threshold decides; attaching a calibration later does too.
  r = run_cli("search --index " + plain + " " + picture() + " --threshold 10 --json --quiet");
  EXPECT_EQ(nlohmann::json::parse(r.out)[0]["faces"][0]["decision"], "match") << r.out;
  r = run_cli("index calibrate --index " + plain + " --split validation --quiet");
  ASSERT_EQ(r.code, 0) << r.out;
  r = run_cli("index stats --index " + plain);
  EXPECT_TRUE(contains(r.out, "calibrated (decides match / unknown)")) << r.out;
}

// The faces.csv rows of one picture: face -> (decision, identity, score).
std::map<int, std::tuple<std::string, std::string, std::string>> csv_faces(const std::string& csv, const std::string& picture) {
  std::map<int, std::tuple<std::string, std::string, std::string>> out;
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    const auto f = parse_csv_line(line);
    if (f.size() == 13 && f[0] == picture) out[std::stoi(f[1])] = {f[8], f[9], f[10]};
  }
  return out;
}

TEST_F(OpenSetCli, ScanWritesTheReportAgreesWithSearchAndResumes) {
  const std::string corrupt = (*dir_ / "corrupt.jpg").string();
  testing::write_text(corrupt, std::string("\xff\xd8\xff\xe0", 4) + "not really a jpeg");
  const std::string out = (*dir_ / "scan").string();
  const std::string pictures = picture() + " " + faceless() + " " + corrupt + " " + data() + "/images/Toon_0014/C00002.jpg";
  auto r = run_cli("scan --index " + index() + " " + pictures + " --out " + out + " --quiet");
  EXPECT_EQ(r.code, 3) << r.out;  // one picture unreadable
  EXPECT_TRUE(contains(r.out, "4 pictures (0 done before)")) << r.out;
  EXPECT_TRUE(contains(r.out, "pictures/s")) << r.out;
  const std::string csv = testing::read_text(fs::path(out) / "faces.csv");
  const auto two = csv_faces(csv, picture());
  ASSERT_EQ(two.size(), 2u) << csv;
  // The same answers as search gives for the same picture.
  const nlohmann::json s = search_json(picture() + " --top-k 3");
  for (const auto& f : s[0]["faces"]) {
    const auto& [decision, identity, score] = two.at(f["face"].get<int>());
    EXPECT_EQ(decision, f["decision"].get<std::string>());
    EXPECT_EQ(identity, f["identity"].get<std::string>());
    EXPECT_NEAR(std::stod(score), f["score"].get<double>(), 1e-5);
  }
  EXPECT_TRUE(contains(csv, faceless() + ",0,,,,,,,no_face")) << csv;
  EXPECT_TRUE(contains(testing::read_text(fs::path(out) / "unreadable.csv"), corrupt));
  const std::string report = testing::read_text(fs::path(out) / "report.html");
  EXPECT_TRUE(contains(report, "Toon_0013") && contains(report, "Unknown faces")) << "report.html";
  EXPECT_TRUE(contains(report, "data:image/jpeg;base64,"));
  // Again: everything was done, nothing is scanned twice, the same table results.
  r = run_cli("scan --index " + index() + " " + pictures + " --out " + out + " --quiet");
  EXPECT_TRUE(contains(r.out, "4 pictures (4 done before)")) << r.out;
  EXPECT_EQ(testing::read_text(fs::path(out) / "faces.csv"), csv);
  // Another operating point is another scan: it starts afresh.
  r = run_cli("scan --index " + index() + " " + pictures + " --out " + out + " --fpir 0.3 --quiet");
  EXPECT_TRUE(contains(r.out, "(0 done before)")) << r.out;
  // Two ranks share the pictures and write the same table.
  const std::string out2 = (*dir_ / "scan2").string();
  r = run_cli("launch --nproc 2 --master-port " + std::to_string(testing::free_port()) + " -- scan --index " + index() + " " +
              pictures + " --out " + out2 + " --quiet");
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_EQ(testing::read_text(fs::path(out2) / "faces.csv"), csv);
  EXPECT_TRUE(fs::exists(fs::path(out2) / "journal.rank1.jsonl"));
}

// The page on the two-face picture: a numbered box per face, match / unknown labels.
TEST_F(OpenSetCli, WebPageShowsEveryFaceWithItsDecision) {
  const fs::path node_modules = fs::path(testing::source_dir()) / ".cache" / "node" / "node_modules";
  if (!fs::exists(node_modules / "playwright-core")) GTEST_SKIP() << "playwright-core missing: run make deps";
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    execl(TOONREID_CLI_PATH, TOONREID_CLI_PATH, "serve", "--index", index().c_str(), "--token", "tk", "--port", "0", "--quiet",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string url;
  char c;
  while (read(out[0], &c, 1) == 1 && c != '\n') url += c;
  close(out[0]);
  const std::string photo = data() + "/images/Toon_0001/P00001.jpg";
  const std::string cmd = "NODE_PATH=" + node_modules.string() + " node " + testing::source_dir() +
                          "/tools/browser/serve_page_test.js " + url + " " + picture() + " " + photo + " tk match,unknown 2>&1";
  std::string text;
  int code = -1;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) text.append(buf, n);
    const int st = pclose(p);
    code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_EQ(code, 0) << text;
  EXPECT_TRUE(contains(text, "faces: 2 (match,unknown)")) << text;
  EXPECT_TRUE(contains(text, "Match: Toon_0013")) << text;
  EXPECT_TRUE(contains(text, "Unknown — closest")) << text;
}

}  // namespace
}  // namespace toonreid
