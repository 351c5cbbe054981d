#include "recipe/scan.h"

#include <ATen/Parallel.h>
#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/atomic_file.h"
#include "core/base64.h"
#include "core/distributed.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/runtime.h"
#include "data/csv_manifest.h"
#include "data/image_io.h"
#include "eval/svg_plot.h"

namespace toonreid {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

nlohmann::json settings_of(const GalleryIndex& index, const ScanOptions& o, const std::vector<fs::path>& pictures) {
  return {{"format", "toonreid scan 1"},
          {"index", fs::absolute(index.dir()).string()},
          {"fingerprint", index.model().fingerprint},
          {"calibrated", index.calibration() != nullptr},
          {"fpir", o.search.fpir},
          {"threshold", o.search.threshold ? nlohmann::json(*o.search.threshold) : nlohmann::json(nullptr)},
          {"top_k", o.search.top_k},
          {"by_identity", o.search.by_identity},
          {"largest_face", o.faces.largest_only},
          {"fallback", o.faces.fallback},
          {"pictures", pictures.size()},
          {"first", pictures.empty() ? "" : pictures.front().string()},
          {"last", pictures.empty() ? "" : pictures.back().string()}};
}

std::vector<fs::path> journals(const fs::path& out) {
  std::vector<fs::path> files;
  if (!fs::is_directory(out)) return files;
  for (const auto& e : fs::directory_iterator(out)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("journal.rank", 0) == 0 && e.path().extension() == ".jsonl") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Every journalled picture by index (the last line wins); lines cut short by an
// interruption, or that do not belong to this picture list, are ignored.
std::map<std::size_t, nlohmann::json> read_journals(const fs::path& out, const std::vector<fs::path>& pictures) {
  std::map<std::size_t, nlohmann::json> done;
  for (const auto& file : journals(out)) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      try {
        nlohmann::json j = nlohmann::json::parse(line);
        const auto i = j.at("index").get<std::size_t>();
        if (i < pictures.size() && j.at("picture").get<std::string>() == pictures[i].string()) done[i] = std::move(j);
      } catch (const std::exception&) {
        // An interrupted write: that picture is scanned again.
      }
    }
  }
  return done;
}

std::string fmt_double(double v, const char* f = "%.6g") {
  if (!std::isfinite(v)) return "";
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string json_number(const nlohmann::json& j) { return j.is_number() ? fmt_double(j.get<double>()) : ""; }

// A face's crop for the report (a margin around the box), `side` pixels square.
std::string crop_data_url(const cv::Mat& rgb, const nlohmann::json& box, int side) {
  const float x = box[0], y = box[1], w = box[2], h = box[3];
  const float cx = x + w / 2, cy = y + h / 2, half = 0.65f * std::max(w, h);
  cv::Rect r(static_cast<int>(cx - half), static_cast<int>(cy - half), static_cast<int>(2 * half), static_cast<int>(2 * half));
  r &= cv::Rect(0, 0, rgb.cols, rgb.rows);
  if (r.width < 2 || r.height < 2) return {};
  cv::Mat small;
  cv::resize(rgb(r), small, cv::Size(side, side * r.height / std::max(1, r.width)), 0, 0, cv::INTER_AREA);
  const auto jpg = encode_jpeg(small, 85);
  return "data:image/jpeg;base64," + base64_encode(jpg);
}

std::string thumbnail_data_url(const fs::path& file, int side, ImageDecoder& decoder) {
  try {
    const cv::Mat rgb = decoder.read(file, side, side);
    cv::Mat small;
    const double s = static_cast<double>(side) / std::max(rgb.cols, rgb.rows);
    cv::resize(rgb, small, cv::Size(std::max(1, static_cast<int>(rgb.cols * s)), std::max(1, static_cast<int>(rgb.rows * s))), 0, 0,
               cv::INTER_AREA);
    return "data:image/jpeg;base64," + base64_encode(encode_jpeg(small, 85));
  } catch (const std::exception&) {
    return {};
  }
}

void write_outputs(const fs::path& out, const std::vector<fs::path>& pictures, const std::map<std::size_t, nlohmann::json>& done,
                   const ScanOptions& o, ScanSummary& s) {
  // faces.csv and unreadable.csv, in picture order.
  std::string faces = "picture,face,box_x,box_y,box_width,box_height,detector,detector_score,decision,identity,score,threshold,fpir\n";
  std::string unreadable = "picture,error\n";
  struct Shown {
    std::size_t picture;
    nlohmann::json face;
  };
  std::map<std::string, std::vector<Shown>> by_identity;
  std::map<std::string, std::string> gallery_photo;  // identity -> its best gallery image
  std::vector<Shown> unknown;
  for (const auto& [i, j] : done) {
    const std::string pic = csv_field(pictures[i].string());
    if (!j["error"].is_null()) {
      ++s.unreadable;
      unreadable += pic + "," + csv_field(j["error"].get<std::string>()) + "\n";
      continue;
    }
    if (j["faces"].empty()) {
      ++s.without_face;
      faces += pic + ",0,,,,,,,no_face,,,,\n";
      continue;
    }
    for (const auto& f : j["faces"]) {
      ++s.faces;
      const std::string decision = f["decision"];
      const std::string identity = f["identity"].is_string() ? f["identity"].get<std::string>() : "";
      faces += pic + "," + std::to_string(f["face"].get<int>()) + "," + fmt_double(f["box"][0].get<double>(), "%.1f") + "," +
               fmt_double(f["box"][1].get<double>(), "%.1f") + "," + fmt_double(f["box"][2].get<double>(), "%.1f") + "," +
               fmt_double(f["box"][3].get<double>(), "%.1f") + "," + f["detector"].get<std::string>() + "," +
               fmt_double(f["detector_score"].get<double>(), "%.4f") + "," + decision + "," + csv_field(identity) + "," +
               json_number(f["score"]) + "," + json_number(f["threshold"]) + "," + json_number(f["fpir"]) + "\n";
      if (decision == "match") {
        ++s.matches;
        by_identity[identity].push_back({i, f});
        for (const auto& h : f["hits"])
          if (h["identity"] == identity && !gallery_photo.count(identity)) gallery_photo[identity] = h["source"];
      } else if (decision == "unknown") {
        ++s.unknown;
        unknown.push_back({i, f});
      } else {
        ++s.uncalibrated;
        unknown.push_back({i, f});
      }
    }
  }
  write_file_atomically(out / "faces.csv", faces);
  write_file_atomically(out / "unreadable.csv", unreadable);

  // report.html: matches by identity (most first), then the unknown faces.
  std::vector<std::pair<std::string, std::vector<Shown>>> groups(by_identity.begin(), by_identity.end());
  std::stable_sort(groups.begin(), groups.end(), [](const auto& a, const auto& b) { return a.second.size() > b.second.size(); });
  ImageDecoder decoder;
  std::map<std::size_t, cv::Mat> cache;  // pictures decoded for crops, a few at a time
  auto crop = [&](const Shown& sh) -> std::string {
    auto it = cache.find(sh.picture);
    if (it == cache.end()) {
      if (cache.size() > 64) cache.clear();
      try {
        it = cache.emplace(sh.picture, decoder.read(pictures[sh.picture])).first;
      } catch (const std::exception&) {
        return {};
      }
    }
    return crop_data_url(it->second, sh.face["box"], 96);
  };
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>toonreid scan</title><style>"
       "body{font-family:sans-serif;margin:2em auto;max-width:1150px;color:#222;padding:0 1em}"
       ".group{border:1px solid #ddd;border-radius:6px;margin:.8em 0;padding:.5em}.group h3{margin:.2em 0}"
       ".faces{display:flex;flex-wrap:wrap;gap:6px}figure{margin:0;font-size:11px;text-align:center;width:100px}"
       "figure img{width:96px;border-radius:4px;border:1px solid #ccc}figure.gallery img{border:2px solid #1a73e8}"
       ".note{color:#666;font-size:90%}</style></head><body>\n<h1>toonreid scan</h1>\n";
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "<p>%zu pictures: %zu faces, %zu matches of %zu identities, %zu unknown%s, %zu pictures without a face, "
                "%zu unreadable.</p>\n",
                pictures.size(), s.faces, s.matches, groups.size(), s.unknown,
                s.uncalibrated ? (", " + std::to_string(s.uncalibrated) + " undecided (uncalibrated index)").c_str() : "",
                s.without_face, s.unreadable);
  h += buf;
  h += "<h2>Matches by identity</h2>\n";
  for (const auto& [identity, shown] : groups) {
    h += "<div class=\"group\"><h3>" + escape_html(identity) + " <span class=\"note\">" + std::to_string(shown.size()) +
         " face(s)</span></h3><div class=\"faces\">";
    if (auto g = gallery_photo.find(identity); g != gallery_photo.end()) {
      const std::string url = thumbnail_data_url(g->second, 96, decoder);
      if (!url.empty()) h += "<figure class=\"gallery\"><img alt=\"gallery\" src=\"" + url + "\"><figcaption>gallery</figcaption></figure>";
    }
    for (std::size_t k = 0; k < shown.size() && k < o.report_faces_per_identity; ++k) {
      const std::string url = crop(shown[k]);
      h += "<figure><img alt=\"face\" src=\"" + url + "\"><figcaption>" + escape_html(pictures[shown[k].picture].filename().string()) +
           " #" + std::to_string(shown[k].face["face"].get<int>()) + " " + json_number(shown[k].face["score"]) + "</figcaption></figure>";
    }
    if (shown.size() > o.report_faces_per_identity)
      h += "<p class=\"note\">and " + std::to_string(shown.size() - o.report_faces_per_identity) + " more (faces.csv)</p>";
    h += "</div></div>\n";
  }
  h += "<h2>Unknown faces</h2>\n<div class=\"faces\">";
  for (std::size_t k = 0; k < unknown.size() && k < o.report_unknown_faces; ++k) {
    const auto& f = unknown[k].face;
    const std::string closest = f["identity"].is_string() ? f["identity"].get<std::string>() : "";
    h += "<figure><img alt=\"face\" src=\"" + crop(unknown[k]) + "\"><figcaption>" +
         escape_html(pictures[unknown[k].picture].filename().string()) + " #" + std::to_string(f["face"].get<int>()) +
         "<br>closest " + escape_html(closest) + " " + json_number(f["score"]) + "</figcaption></figure>";
  }
  h += "</div>";
  if (unknown.size() > o.report_unknown_faces)
    h += "<p class=\"note\">and " + std::to_string(unknown.size() - o.report_unknown_faces) + " more (faces.csv)</p>";
  h += "\n<p class=\"note\">Written by toonreid scan. Faces are cut from the pictures as they were scanned.</p></body></html>\n";
  write_file_atomically(out / "report.html", h);
}

}  // namespace

std::string ScanSummary::describe() const {
  char b[700];
  const double stages = decode_seconds + face_seconds + embed_seconds + search_seconds;
  auto share = [&](double v) { return stages > 0 ? 100 * v / stages : 0.0; };
  std::snprintf(b, sizeof b,
                "%zu pictures (%zu done before): %zu faces, %zu matches, %zu unknown%s, %zu without a face, %zu unreadable\n"
                "this run: %zu pictures, %zu faces in %.1f s: %.2f pictures/s, %.2f faces/s; time per stage: decode %.1f%%, "
                "faces (detection, landmarks, chips) %.1f%%, embedding %.1f%%, search %.1f%%",
                pictures, done_before, faces, matches, unknown,
                uncalibrated ? (", " + std::to_string(uncalibrated) + " undecided").c_str() : "", without_face, unreadable,
                pictures_now, faces_now, seconds, seconds > 0 ? pictures_now / seconds : 0.0,
                seconds > 0 ? faces_now / seconds : 0.0, share(decode_seconds), share(face_seconds), share(embed_seconds),
                share(search_seconds));
  return b;
}

ScanSummary scan_pictures(const GalleryIndex& index, const Embedder& embedder, const std::vector<fs::path>& pictures,
                          const fs::path& out, const ScanOptions& o, ProcessGroup* group) {
  check_same_model(index, embedder);
  const bool main = !group || group->is_main();
  const std::size_t rank = group ? static_cast<std::size_t>(group->rank()) : 0, world = group ? static_cast<std::size_t>(group->size()) : 1;
  const nlohmann::json settings = settings_of(index, o, pictures);
  if (main) {
    fs::create_directories(out);
    const fs::path file = out / "scan_settings.json";
    bool same = false;
    if (fs::exists(file)) {
      try {
        std::ifstream in(file);
        same = nlohmann::json::parse(in) == settings;
      } catch (const std::exception&) {
      }
      if (!same) {
        spdlog::info("{}: scanned with other settings or pictures before; starting afresh", out.string());
        for (const auto& j : journals(out)) fs::remove(j);
      }
    }
    if (!same) write_file_atomically(file, settings.dump(2) + "\n");
  }
  if (group) group->barrier();

  ScanSummary s;
  s.pictures = pictures.size();
  std::map<std::size_t, nlohmann::json> done = read_journals(out, pictures);
  s.done_before = done.size();
  std::vector<std::size_t> todo;
  for (std::size_t i = rank; i < pictures.size(); i += world)
    if (!done.count(i)) todo.push_back(i);

  std::ofstream journal(out / ("journal.rank" + std::to_string(rank) + ".jsonl"), std::ios::app);
  if (!journal) throw Error((out / ("journal.rank" + std::to_string(rank) + ".jsonl")).string() + ": cannot write the journal");
  std::mutex journal_mutex, time_mutex;
  std::atomic<std::size_t> next{0}, finished{0}, faces_now{0};
  const int workers = o.workers > 0 ? o.workers : std::max(1, available_cores());
  const int threads = std::max(1, available_cores() / workers);
  std::exception_ptr failure;
  const auto start = Clock::now();
  auto work = [&] {
    at::set_num_threads(threads);
    ImageDecoder decoder;
    decoder.set_strict(true);
    decoder.set_max_pixels(embedder.max_pixels());
    double t_decode = 0, t_faces = 0, t_embed = 0, t_search = 0;
    try {
      for (std::size_t k; (k = next++) < todo.size();) {
        const std::size_t i = todo[k];
        nlohmann::json line = {{"index", i}, {"picture", pictures[i].string()}, {"error", nullptr}, {"faces", nlohmann::json::array()}};
        auto t = Clock::now();
        cv::Mat rgb;
        try {
          rgb = decoder.read(pictures[i]);
        } catch (const DataError& e) {
          line["error"] = e.what();
        }
        t_decode += since(t);
        if (!rgb.empty()) {
          t = Clock::now();
          const std::vector<AlignedFace> found = embedder.find_faces(rgb, o.faces);
          t_faces += since(t);
          PictureSearch p;
          p.picture = pictures[i].string();
          if (!found.empty()) {
            t = Clock::now();
            std::vector<cv::Mat> chips;
            for (const auto& f : found) chips.push_back(f.chip);
            const torch::Tensor e = embedder.embed_chips(chips);
            t_embed += since(t);
            t = Clock::now();
            auto results = search_embeddings(index, e, std::vector<std::string>(found.size(), p.picture), o.search);
            t_search += since(t);
            for (std::size_t f = 0; f < found.size(); ++f)
              p.faces.push_back({static_cast<int>(f + 1), found[f].box, face_path_name(found[f].path), found[f].score, std::move(results[f])});
            faces_now += found.size();
          }
          line["faces"] = to_json(p)["faces"];
        }
        {
          std::lock_guard lock(journal_mutex);
          journal << line.dump() << '\n' << std::flush;
        }
        ++finished;
      }
    } catch (...) {
      std::lock_guard lock(journal_mutex);
      if (!failure) failure = std::current_exception();
      next = todo.size();
    }
    std::lock_guard lock(time_mutex);
    s.decode_seconds += t_decode, s.face_seconds += t_faces, s.embed_seconds += t_embed, s.search_seconds += t_search;
  };
  {
    ProgressBar bar(todo.size(), "scan", o.progress && main);
    std::vector<std::thread> pool;
    for (int w = 0; w < workers; ++w) pool.emplace_back(work);
    while (finished.load() < todo.size() && !failure) {
      bar.advance(finished.load() - bar.count());
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (auto& t : pool) t.join();
    bar.advance(finished.load() - bar.count());
  }
  journal.close();
  if (failure) std::rethrow_exception(failure);
  s.seconds = since(start);
  s.pictures_now = todo.size();
  s.faces_now = faces_now.load();
  if (group) group->barrier();  // every rank's journal is complete
  if (!main) return s;
  write_outputs(out, pictures, read_journals(out, pictures), o, s);
  return s;
}

}  // namespace toonreid
