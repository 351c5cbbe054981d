// The HTTP service end to end on loopback: search, thumbnails, enrolment, removal, and
// every kind of bad upload and unauthorised change.
#include <gtest/gtest.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <atomic>
#include <chrono>
#include <thread>

#include "core/config.h"
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
    GalleryIndex::create(dir_ / "gallery", {embedder_->fingerprint(), config_->to_yaml(), "", embedder_->preprocessing(), embedder_->dim()}, {});
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
  EXPECT_EQ(page->body.find("<script src"), std::string::npos);  // nothing external
  httplib::MultipartFormDataItems form{{"image", cartoon(), "query.jpg", "image/jpeg"}};
  const auto r = c.Post("/api/search?top_k=3", form);
  ASSERT_EQ(r->status, 200) << r->body;
  const auto j = nlohmann::json::parse(r->body);
  ASSERT_EQ(j["hits"].size(), 3u);
  EXPECT_EQ(j["query"], "query.jpg");
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

}  // namespace
}  // namespace toonreid
