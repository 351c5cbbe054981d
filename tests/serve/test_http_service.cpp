// The HTTP service end to end on loopback: search, thumbnails, enrolment, removal, and
// every kind of bad upload and unauthorised change.
#include <gtest/gtest.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/config.h"
#include "core/error.h"
#include "data/synth/synth_dataset.h"
#include "serve/gallery_search.h"
#include "serve/http_service.h"
#include "test_util.h"
#include "toonreid_schema.h"

namespace toonreid {
namespace {

namespace fs = std::filesystem;

class HttpService : public ::testing::Test {
 protected:
  void SetUp() override {
    synth::SynthOptions o;
    o.identities = 4, o.photos = 2, o.cartoons = 1, o.size = 64, o.seed = 3;
    data_ = synth::generate(o, dir_ / "toons");
    config_ = std::make_unique<Config>(load_config(schema_, testing::source_dir() + "/configs/tiny.yaml"));
    embedder_ = std::make_unique<Embedder>(*config_, "");
    GalleryIndex::create(dir_ / "gallery", embedder_->index_model(""), {});
    index_ = std::make_unique<GalleryIndex>(dir_ / "gallery");
    std::vector<ImageRecord> photos;
    for (const auto& r : data_.records())
      if (r.domain == Domain::Photo) photos.push_back(r);
    enrol(*index_, *embedder_, Dataset(photos, "photos"));
    ServiceOptions so;
    so.port = 0;
    so.token = "s3cret";
    so.max_upload_bytes = 1u << 20;
    service_ = std::make_unique<SearchService>(*index_, *embedder_, so);
    port_ = service_->bind();
    thread_ = std::thread([this] { service_->run(); });
  }
  void TearDown() override {
    service_->stop();
    thread_.join();
  }
  httplib::Client client() { return httplib::Client("127.0.0.1", port_); }
  std::string cartoon() const {
    for (const auto& r : data_.records())
      if (r.domain == Domain::Cartoon) return testing::read_text(r.path);
    return {};
  }

  testing::TempDir dir_;
  ConfigSchema schema_ = toonreid_schema();
  Dataset data_;
  std::unique_ptr<Config> config_;
  std::unique_ptr<Embedder> embedder_;
  std::unique_ptr<GalleryIndex> index_;
  std::unique_ptr<SearchService> service_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(HttpService, SearchesServesThumbnailsAndThePage) {
  auto c = client();
  ASSERT_EQ(c.Get("/api/health")->status, 200);
  const auto page = c.Get("/");
  ASSERT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("Who is this?"), std::string::npos);
  EXPECT_EQ(page->body.find("http"), std::string::npos);  // nothing from other sites
  EXPECT_NE(page->body.find("<script src=\"/app.js\">"), std::string::npos);
  EXPECT_EQ(page->body.find("<script>"), std::string::npos);  // no inline script: the CSP allows none
  EXPECT_EQ(c.Get("/app.js")->status, 200);
  EXPECT_EQ(c.Get("/app.css")->get_header_value("Content-Type"), "text/css; charset=utf-8");
  httplib::MultipartFormDataItems form{{"image", cartoon(), "query.jpg", "image/jpeg"}};
  const auto r = c.Post("/api/search?top_k=3", form);
  ASSERT_EQ(r->status, 200) << r->body;
  const auto j = nlohmann::json::parse(r->body);
  ASSERT_EQ(j["hits"].size(), 3u);
  EXPECT_EQ(j["query"], "query.jpg");
  EXPECT_FALSE(j["hits"][0].contains("source"));  // no server paths in replies
  const auto thumb = c.Get(j["hits"][0]["thumbnail"].get<std::string>().c_str());
  ASSERT_EQ(thumb->status, 200);
  EXPECT_EQ(thumb->get_header_value("Content-Type"), "image/jpeg");
  // The raw body works too; by image, more rows than identities are allowed.
  const auto raw = c.Post("/api/search?top_k=8&by=image", cartoon(), "image/jpeg");
  ASSERT_EQ(raw->status, 200) << raw->body;
  EXPECT_EQ(nlohmann::json::parse(raw->body)["hits"].size(), 8u);
  const auto stats = nlohmann::json::parse(c.Get("/api/stats")->body);
  EXPECT_EQ(stats["items"], 8);
  EXPECT_EQ(stats["searches"], 2);
  EXPECT_TRUE(stats["search_latency"].contains("p99_ms"));
  EXPECT_EQ(c.Get("/api/image/999")->status, 404);
}

TEST_F(HttpService, BadUploadsAreRefusedWithTheReason) {
  auto c = client();
  auto error_of = [](const httplib::Result& r) { return nlohmann::json::parse(r->body)["error"].get<std::string>(); };
  const auto empty = c.Post("/api/search", "", "image/jpeg");
  EXPECT_EQ(empty->status, 400);
  EXPECT_NE(error_of(empty).find("empty upload"), std::string::npos) << empty->body;
  const std::string jpeg = cartoon();
  const auto truncated = c.Post("/api/search", jpeg.substr(0, jpeg.size() / 2), "image/jpeg");
  EXPECT_EQ(truncated->status, 400);
  EXPECT_NE(error_of(truncated).find("corrupt JPEG"), std::string::npos) << truncated->body;
  const auto text = c.Post("/api/search", "hello, I am not an image", "text/plain");
  EXPECT_EQ(text->status, 400);
  EXPECT_NE(error_of(text).find("not a JPEG or PNG"), std::string::npos) << text->body;
  const auto huge = c.Post("/api/search", std::string(50u << 20, 'x'), "image/jpeg");  // 50 MB against a 1 MB limit
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 413);
  httplib::MultipartFormDataItems wrong_field{{"file", jpeg, "q.jpg", "image/jpeg"}};
  const auto no_image = c.Post("/api/search", wrong_field);
  EXPECT_EQ(no_image->status, 400);
  EXPECT_NE(error_of(no_image).find("'image'"), std::string::npos) << no_image->body;
  EXPECT_EQ(c.Post("/api/search?top_k=abc", jpeg, "image/jpeg")->status, 400);
  EXPECT_EQ(index_->stats().items, 8);
}

TEST_F(HttpService, ChangesNeedTheTokenAndSafeNames) {
  auto c = client();
  const std::string jpeg = cartoon();
  httplib::MultipartFormDataItems form{{"identity", "New Person", "", ""}, {"image", jpeg, "a.jpg", "image/jpeg"},
                                       {"image", jpeg, "b.jpg", "image/jpeg"}};
  EXPECT_EQ(c.Post("/api/gallery", form)->status, 401);
  EXPECT_EQ(c.Delete("/api/gallery/1")->status, 401);
  c.set_bearer_token_auth("s3cret");
  const auto enrolled = c.Post("/api/gallery", form);
  ASSERT_EQ(enrolled->status, 200) << enrolled->body;
  EXPECT_EQ(nlohmann::json::parse(enrolled->body)["items"].size(), 2u);
  EXPECT_EQ(index_->stats().items, 10);
  EXPECT_TRUE(fs::exists(dir_ / "gallery" / "uploads" / "New Person"));
  for (const char* bad : {"../../etc", "a/b", ".hidden"}) {
    httplib::MultipartFormDataItems f{{"identity", bad, "", ""}, {"image", jpeg, "a.jpg", "image/jpeg"}};
    const auto r = c.Post("/api/gallery", f);
    EXPECT_EQ(r->status, 400) << bad;
  }
  EXPECT_FALSE(fs::exists(dir_ / "etc"));
  httplib::MultipartFormDataItems corrupt{{"identity", "Broken", "", ""}, {"image", jpeg.substr(0, 100), "c.jpg", "image/jpeg"}};
  EXPECT_EQ(c.Post("/api/gallery", corrupt)->status, 400);
  EXPECT_EQ(index_->stats().items, 10);  // nothing half-enrolled
  const auto removed = c.Delete("/api/gallery/New%20Person");
  ASSERT_EQ(removed->status, 200) << removed->body;
  EXPECT_EQ(nlohmann::json::parse(removed->body)["removed"], 2);
  EXPECT_EQ(c.Delete("/api/gallery/Nobody")->status, 404);
  EXPECT_EQ(c.Delete("/api/gallery/1")->status, 200);
  EXPECT_EQ(index_->stats().items, 7);
  EXPECT_TRUE(index_->verify().empty());
}

// Searches run while a long enrolment embeds its images: they wait at most for the short
// index update, never for the embedding.
TEST_F(HttpService, SearchesAreNotBlockedByALongEnrolment) {
  std::vector<ImageRecord> many;
  for (int i = 0; i < 40; ++i)
    for (const auto& r : data_.records()) many.push_back(ImageRecord(r.path, "Bulk_" + std::to_string(i % 4), r.domain));
  std::atomic<bool> done{false};
  double enrol_seconds = 0;
  std::thread enrolment([&] {
    const auto t0 = std::chrono::steady_clock::now();
    enrol(*index_, *embedder_, Dataset(many, "bulk"), false, 64);  // 64 images per committed change
    enrol_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    done = true;
  });
  const torch::Tensor q = torch::randn({1, embedder_->dim()});
  int searches = 0;
  double slowest = 0;
  while (!done) {
    const auto t0 = std::chrono::steady_clock::now();
    search_embeddings(*index_, q, {"q"}, SearchOptions{});
    slowest = std::max(slowest, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    ++searches;
  }
  enrolment.join();
  EXPECT_EQ(index_->stats().items, 8 + static_cast<int64_t>(many.size()));
  EXPECT_GT(searches, 10) << "enrolment took " << enrol_seconds << " s";
  EXPECT_LT(slowest, enrol_seconds / 4) << searches << " searches; enrolment " << enrol_seconds << " s";
}

// Decompression bombs get 413 naming the limit, before anything is allocated for them.
TEST_F(HttpService, PixelBombsGet413NamingTheLimit) {
  auto c = client();
  const auto png = c.Post("/api/search", testing::png_declaring(30000, 30000), "image/png");
  ASSERT_TRUE(png);
  EXPECT_EQ(png->status, 413) << png->body;
  EXPECT_NE(png->body.find("input.max_pixels"), std::string::npos) << png->body;
  const auto jpeg = c.Post("/api/search", testing::jpeg_declaring(cartoon(), 60000, 60000), "image/jpeg");
  EXPECT_EQ(jpeg->status, 413) << jpeg->body;
  c.set_bearer_token_auth("s3cret");
  httplib::MultipartFormDataItems form{{"identity", "Bomb", "", ""}, {"image", testing::png_declaring(30000, 30000), "b.png", "image/png"}};
  EXPECT_EQ(c.Post("/api/gallery", form)->status, 413);
  EXPECT_FALSE(fs::exists(dir_ / "gallery" / "uploads" / "Bomb" / "b.png"));
}

// A web page on another site must not change the gallery (multipart POSTs and DELETEs
// need no CORS preflight), nor reach it under its own name (DNS rebinding).
TEST_F(HttpService, CrossSiteAndRebindingRequestsAreRefused) {
  auto c = client();
  const std::string me = "127.0.0.1:" + std::to_string(port_);
  httplib::MultipartFormDataItems form{{"identity", "Intruder", "", ""}, {"image", cartoon(), "a.jpg", "image/jpeg"}};
  auto refused = [&](const httplib::Headers& h) {
    httplib::Client x("127.0.0.1", port_);
    x.set_bearer_token_auth("s3cret");
    const auto post = x.Post("/api/gallery", h, form);
    const auto del = x.Delete("/api/gallery/1", h);
    return post && del && post->status == 403 && del->status == 403;
  };
  EXPECT_TRUE(refused({{"Host", "rebind.evil.example:" + std::to_string(port_)}}));
  EXPECT_TRUE(refused({{"Origin", "http://evil.example"}}));
  EXPECT_TRUE(refused({{"Origin", "null"}}));
  EXPECT_TRUE(refused({{"Sec-Fetch-Site", "cross-site"}}));
  EXPECT_TRUE(refused({{"Origin", "http://127.0.0.1:1"}}));  // another port is another origin
  EXPECT_EQ(index_->stats().items, 8);
  // Reads under a foreign name are refused too (they would read the gallery's pictures).
  EXPECT_EQ(c.Get("/api/stats", {{"Host", "rebind.evil.example"}})->status, 403);
  EXPECT_EQ(c.Get("/api/image/1", {{"Host", "evil.example:" + std::to_string(port_)}})->status, 403);
  // The page's own requests and command-line clients pass.
  c.set_bearer_token_auth("s3cret");
  const auto same = c.Post("/api/gallery", {{"Origin", "http://" + me}, {"Sec-Fetch-Site", "same-origin"}}, form);
  ASSERT_EQ(same->status, 200) << same->body;
  EXPECT_EQ(c.Get("/", {{"Host", "localhost:" + std::to_string(port_)}})->status, 200);
  // Every reply carries the protective headers.
  const auto page = c.Get("/");
  EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(page->get_header_value("X-Frame-Options"), "DENY");
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(c.Get("/api/stats", {{"Host", "evil.example"}})->get_header_value("X-Frame-Options"), "DENY");
  const auto stats = nlohmann::json::parse(c.Get("/api/stats")->body);
  EXPECT_GE(stats["refused"].get<int>(), 12);
}

TEST_F(HttpService, DeletingAnIdentityDeletesItsStoredUploadsAndOnlyThose) {
  auto c = client();
  c.set_bearer_token_auth("s3cret");
  const std::string jpeg = cartoon();
  httplib::MultipartFormDataItems first{{"identity", "Ann", "", ""}, {"image", jpeg, "a.jpg", "image/jpeg"}};
  const auto enrolled = c.Post("/api/gallery", first);
  ASSERT_EQ(enrolled->status, 200);
  const int64_t ann = nlohmann::json::parse(enrolled->body)["items"][0];
  const fs::path folder = dir_ / "gallery" / "uploads" / "Ann";
  ASSERT_EQ(std::distance(fs::directory_iterator(folder), fs::directory_iterator()), 1);
  // The same picture again with a GIF: refused, and the rollback keeps the earlier upload
  // (files are named by content: it is the same file).
  httplib::MultipartFormDataItems again{{"identity", "Ann", "", ""}, {"image", jpeg, "a.jpg", "image/jpeg"},
                                        {"image", "GIF89a....", "a.gif", "image/gif"}};
  EXPECT_EQ(c.Post("/api/gallery", again)->status, 400);
  ASSERT_EQ(std::distance(fs::directory_iterator(folder), fs::directory_iterator()), 1);
  EXPECT_EQ(c.Get(("/api/image/" + std::to_string(ann)).c_str())->status, 200);  // still served
  ASSERT_EQ(c.Delete("/api/gallery/Ann")->status, 200);
  EXPECT_FALSE(fs::exists(folder) && !fs::is_empty(folder));
  // Items enrolled from the user's own files are never deleted from disk.
  ASSERT_EQ(c.Delete("/api/gallery/1")->status, 200);
  EXPECT_TRUE(fs::exists(data_.records()[0].path));
}

// Names are UTF-8 at every entry; what is stored can always be written as JSON.
TEST_F(HttpService, NonUtf8NamesAreRefusedAndStoredTextNeverBreaksReplies) {
  auto c = client();
  c.set_bearer_token_auth("s3cret");
  httplib::MultipartFormDataItems bad{{"identity", "Mallory\xff\xfe", "", ""}, {"image", cartoon(), "a.jpg", "image/jpeg"}};
  const auto r = c.Post("/api/gallery", bad);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("UTF-8"), std::string::npos) << r->body;
  httplib::MultipartFormDataItems bad_file{{"identity", "Mal", "", ""}, {"image", cartoon(), "x\xff.jpg", "image/jpeg"}};
  EXPECT_EQ(c.Post("/api/gallery", bad_file)->status, 200);  // a file name is only a label
  EXPECT_THROW(index_->add({{0, "Eve\xc0\x80", "photo", "/x.jpg", "h", 0}}, torch::randn({1, embedder_->dim()})), DataError);
  EXPECT_EQ(c.Post("/api/search?top_k=50", cartoon(), "image/jpeg")->status, 200);
}

TEST_F(HttpService, NumbersAreParsedWholeAndBadValuesGet400) {
  auto c = client();
  const std::string jpeg = cartoon();
  for (const char* q : {"top_k=5abc", "top_k=1e3", "top_k=", "top_k=0", "fpir=2", "fpir=abc", "threshold=nan", "by=nobody"})
    EXPECT_EQ(c.Post((std::string("/api/search?") + q).c_str(), jpeg, "image/jpeg")->status, 400) << q;
  const std::string v = "[" + std::string(embedder_->dim() * 2 - 1, '0') + "]";
  std::string zeros = "[";
  for (int64_t i = 0; i < embedder_->dim(); ++i) zeros += (i ? ",0.1" : "0.1");
  zeros += "]";
  for (const std::string& body : {"{\"embedding\": " + zeros + ", \"top_k\": \"abc\"}", "{\"embedding\": " + zeros + ", \"by\": 3}",
                                 std::string("[1, 2]"), "{\"embedding\": " + zeros + ", \"top_k\": 1.5}"})
    EXPECT_EQ(c.Post("/api/search/embedding", body, "application/json")->status, 400) << body;
  EXPECT_EQ(c.Post("/api/search/embedding", "{\"embedding\": " + zeros + ", \"top_k\": 2}", "application/json")->status, 200);
  c.set_bearer_token_auth("s3cret");
  EXPECT_EQ(c.Delete("/api/gallery/99999999999999999999999")->status, 404);
  // Errors cpp-httplib answers itself come as JSON too.
  const auto huge = c.Post("/api/search", std::string(2u << 20, 'x'), "image/jpeg");
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 413);
  EXPECT_NO_THROW(nlohmann::json::parse(huge->body)) << huge->body;
  const auto nowhere = c.Get("/api/nothing");
  EXPECT_EQ(nowhere->status, 404);
  EXPECT_TRUE(nlohmann::json::parse(nowhere->body).contains("error"));
}

// Clients that dribble their headers a byte at a time do not starve the others.
TEST_F(HttpService, SlowClientsDoNotStarveTheOthers) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> slow;
  for (int i = 0; i < 50; ++i)
    slow.emplace_back([&] {
      httplib::Client x("127.0.0.1", port_);  // only for the address: a raw socket below
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port_));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        const std::string request = "GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
        for (std::size_t k = 0; k < request.size() && !stop; ++k) {
          if (::send(fd, &request[k], 1, MSG_NOSIGNAL) <= 0) break;
          for (int t = 0; t < 20 && !stop; ++t) std::this_thread::sleep_for(std::chrono::milliseconds(100));  // 2 s a byte
        }
      }
      ::close(fd);
    });
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const torch::Tensor q = torch::randn({embedder_->dim()});
  std::string body = "{\"embedding\": [";
  for (int64_t i = 0; i < q.size(0); ++i) body += (i ? "," : "") + std::to_string(q[i].item<float>());
  body += "]}";
  int ok = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(5, 0);
    const auto r = c.Post("/api/search/embedding", body, "application/json");
    ok += r && r->status == 200;
    if (!r) ADD_FAILURE() << "search " << i << ": " << httplib::to_string(r.error());
    else if (r->status != 200) ADD_FAILURE() << "search " << i << ": " << r->status << " " << r->body;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  stop = true;
  for (auto& t : slow) t.join();
  EXPECT_EQ(ok, 3);
  EXPECT_LT(seconds, 5.0);
}

// With input.align a search cuts chips in memory: nothing of a query is written
// (formerly a chip and a CSV per search in face.cache_dir, and a scratch copy).
TEST(HttpServiceAligned, NothingOfAQueryIsWritten) {
  testing::TempDir dir;
  synth::SynthOptions so;
  so.identities = 3, so.photos = 2, so.cartoons = 2, so.size = 96, so.seed = 4;
  const Dataset data = synth::generate(so, dir / "toons");
  const ConfigSchema schema = toonreid_schema();
  const Config config = load_config(schema, testing::source_dir() + "/configs/synth_demo.yaml",
                                    {"input.align=true", "face.cache_dir=" + (dir / "cache").string()});
  Embedder embedder(config, "");
  GalleryIndex::create(dir / "gallery", embedder.index_model(""), {});
  GalleryIndex index(dir / "gallery");
  std::vector<ImageRecord> photos;
  for (const auto& r : data.records())
    if (r.domain == Domain::Photo) photos.push_back(r);
  enrol(index, embedder, Dataset(photos, "photos"));  // bulk enrolment may use the chip cache
  auto files_in = [](const fs::path& d) {
    std::size_t n = 0;
    if (fs::exists(d))
      for (const auto& e : fs::recursive_directory_iterator(d)) n += e.is_regular_file();
    return n;
  };
  // Scratch files would go to the temporary folder: a private one for this test (the
  // system's is shared with every other test running at the same time).
  const fs::path private_tmp = dir / "tmp";
  fs::create_directories(private_tmp);
  const char* old_tmpdir = std::getenv("TMPDIR");
  const std::string saved_tmpdir = old_tmpdir ? old_tmpdir : "";
  ::setenv("TMPDIR", private_tmp.c_str(), 1);
  ASSERT_EQ(fs::temp_directory_path(), private_tmp);
  const std::size_t cache = files_in(dir / "cache"), gallery = files_in(dir / "gallery");
  ServiceOptions o;
  o.port = 0;
  SearchService service(index, embedder, o);
  const int port = service.bind();
  std::thread t([&] { service.run(); });
  httplib::Client c("127.0.0.1", port);
  int ok = 0;
  for (const auto& r : data.records())
    if (r.domain == Domain::Cartoon) ok += c.Post("/api/search", testing::read_text(r.path), "image/jpeg")->status == 200;
  service.stop();
  t.join();
  EXPECT_EQ(ok, 6);
  EXPECT_EQ(files_in(dir / "cache"), cache);
  EXPECT_EQ(files_in(dir / "gallery"), gallery);
  EXPECT_EQ(files_in(private_tmp), 0u);
  if (old_tmpdir) ::setenv("TMPDIR", saved_tmpdir.c_str(), 1); else ::unsetenv("TMPDIR");
}

}  // namespace
}  // namespace toonreid
