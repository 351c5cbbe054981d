// `toonreid serve` as a process: killed with SIGKILL in the middle of enrolments, the
// index reopens consistent and keeps every enrolment the server acknowledged; and the
// web page driven in headless Chromium (playwright-core from `make deps`).
#include <gtest/gtest.h>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "cli/cli_runner.h"
#include "serve/gallery_index.h"
#include "test_util.h"

namespace toonreid {
namespace {

namespace fs = std::filesystem;
using testing::run_cli;

struct Server {
  pid_t pid = -1;
  int port = 0;
  std::string url;
};

// Starts `toonreid serve ARGS --port 0` and reads the URL it prints first.
Server start_server(const std::vector<std::string>& args) {
  int out[2];
  if (pipe(out) != 0) return {};
  Server s;
  s.pid = fork();
  if (s.pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    std::vector<char*> argv{const_cast<char*>(TOONREID_CLI_PATH), const_cast<char*>("serve")};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(const_cast<char*>("--port"));
    argv.push_back(const_cast<char*>("0"));
    argv.push_back(const_cast<char*>("--quiet"));
    argv.push_back(nullptr);
    execv(TOONREID_CLI_PATH, argv.data());
    _exit(127);
  }
  close(out[1]);
  std::string line;
  char c;
  while (read(out[0], &c, 1) == 1 && c != '\n') line += c;
  close(out[0]);
  s.url = line;
  const auto colon = line.rfind(':');
  if (colon != std::string::npos) s.port = std::atoi(line.c_str() + colon + 1);
  return s;
}

class ServeCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    ASSERT_EQ(run_cli("synth --out " + data() + " --identities 6 --photos 3 --cartoons 3 --size 64 --seed 5 --quiet").code, 0);
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string data() { return (*dir_ / "toons").string(); }
  static std::string build_index(const std::string& name) {
    const std::string index = (*dir_ / name).string();
    auto r = run_cli("index build --config " + testing::source_dir() + "/configs/tiny.yaml --data " + data() +
                     " --domain photo --out " + index + " --quiet");
    EXPECT_EQ(r.code, 0) << r.out;
    return index;
  }
  static std::string a_cartoon() {
    for (const auto& e : fs::recursive_directory_iterator(fs::path(data()) / "images"))
      if (e.path().filename().string()[0] == 'C') return e.path().string();
    return {};
  }
  static testing::TempDir* dir_;
};
testing::TempDir* ServeCli::dir_ = nullptr;

TEST_F(ServeCli, KilledDuringEnrolmentsReopensWithEveryAcknowledgedItem) {
  const std::string index = build_index("kill9");
  Server server = start_server({"--index", index});
  ASSERT_GT(server.port, 0) << server.url;
  const std::string jpeg = testing::read_text(a_cartoon());
  std::atomic<bool> stop{false};
  std::mutex m;
  std::set<int64_t> acknowledged;
  auto enrol_loop = [&](int worker) {
    httplib::Client c("127.0.0.1", server.port);
    for (int i = 0; !stop; ++i) {
      httplib::MultipartFormDataItems form{{"identity", "Enrolled_" + std::to_string(worker) + "_" + std::to_string(i), "", ""},
                                           {"image", jpeg, "x.jpg", "image/jpeg"}};
      auto r = c.Post("/api/gallery", form);
      if (!r || r->status != 200) break;  // the server is gone
      const auto body = nlohmann::json::parse(r->body);
      std::lock_guard lock(m);
      for (const auto& id : body["items"]) acknowledged.insert(id.get<int64_t>());
    }
  };
  std::thread a(enrol_loop, 0), b(enrol_loop, 1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::lock_guard lock(m);
    if (acknowledged.size() >= 6) break;
  }
  kill(server.pid, SIGKILL);  // in the middle of the next enrolments
  int status = 0;
  waitpid(server.pid, &status, 0);
  stop = true;
  a.join();
  b.join();
  ASSERT_TRUE(WIFSIGNALED(status));

  {
    GalleryIndex reopened(index);  // the writer's lock, released before the restart below
    EXPECT_TRUE(reopened.verify().empty());
    const auto items = reopened.items(std::vector<int64_t>(acknowledged.begin(), acknowledged.end()));
    EXPECT_EQ(items.size(), acknowledged.size()) << "an acknowledged enrolment was lost";
  }
  // And the restarted server answers.
  Server again = start_server({"--index", index});
  ASSERT_GT(again.port, 0);
  httplib::Client c("127.0.0.1", again.port);
  auto health = c.Get("/api/health");
  EXPECT_TRUE(health && health->status == 200);
  kill(again.pid, SIGTERM);
  waitpid(again.pid, &status, 0);
}

// The page in headless Chromium: choose a cartoon, see ranked results with pictures,
// enrol a photo from the page (tools/browser/serve_page_test.js).
TEST_F(ServeCli, WebPageSearchesAndEnrolsInHeadlessChromium) {
  const fs::path node_modules = fs::path(testing::source_dir()) / ".cache" / "node" / "node_modules";
  if (!fs::exists(node_modules / "playwright-core")) GTEST_SKIP() << "playwright-core missing: run make deps";
  const std::string index = build_index("browser");
  Server server = start_server({"--index", index, "--token", "t0k"});
  ASSERT_GT(server.port, 0) << server.url;
  const std::string photo = (fs::path(data()) / "images" / "Toon_0001" / "P00001.jpg").string();
  const std::string cmd = "NODE_PATH=" + node_modules.string() + " node " + testing::source_dir() +
                          "/tools/browser/serve_page_test.js " + server.url + " " + a_cartoon() + " " + photo +
                          " t0k 2>&1";
  testing::CliResult r{-1, {}};
  if (FILE* pipe = popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) r.out.append(buf, n);
    const int st = pclose(pipe);
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  int status = 0;
  kill(server.pid, SIGTERM);
  waitpid(server.pid, &status, 0);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("results: 5 with pictures"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("enrolled 1 image(s) of Page Person"), std::string::npos) << r.out;
  GalleryIndex after(index);
  EXPECT_EQ(after.stats().identities, 7);
}

}  // namespace
}  // namespace toonreid
