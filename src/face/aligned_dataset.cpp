#include "face/aligned_dataset.h"

#include "core/distributed.h"

#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/progress.h"
#include "core/runtime.h"
#include "data/csv_manifest.h"
#include "data/image_io.h"

namespace toonreid {

namespace fs = std::filesystem;

namespace {

std::vector<std::uint8_t> read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) throw DataError(file.string() + ": cannot read the file");
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(in.tellg()));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!in) throw DataError(file.string() + ": cannot read the file");
  return bytes;
}

// Runs job(i, decoder) for i in [0, n) on `workers` threads, each with its own decoder,
// while the calling thread draws the progress bar.
void run_workers(std::size_t n, const AlignRunOptions& run, const std::function<void(std::size_t, ImageDecoder&)>& job) {
  std::atomic<std::size_t> next{0}, done{0};
  const int workers = std::max(1, run.workers);
  const int threads = run.threads_per_worker > 0 ? run.threads_per_worker : std::max(1, available_cores() / workers);
  auto work = [&] {
    // OpenMP's thread count is per thread: a new thread would start with every core.
    at::set_num_threads(threads);
    ImageDecoder decoder;
    decoder.set_strict(true);  // a truncated file is reported, not aligned from grey rows
    decoder.set_max_pixels(run.max_pixels);
    for (std::size_t i; (i = next++) < n;) {
      job(i, decoder);
      ++done;
    }
  };
  ProgressBar bar(n, run.progress_label, run.progress);
  std::vector<std::thread> pool;
  for (int t = 0; t < workers; ++t) pool.emplace_back(work);
  while (done.load() < n) {
    bar.advance(done.load() - bar.count());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (auto& t : pool) t.join();
  bar.advance(done.load() - bar.count());
}

// Aligns one image: decode, align, encode. Fills `row`; returns the chip (empty on error).
cv::Mat align_one(const ImageRecord& r, const std::vector<std::uint8_t>& bytes, ImageDecoder& decoder,
                  const FaceAligner& aligner, AlignmentRow& row) {
  try {
    if (bytes.empty()) throw DataError(r.path.string() + ": empty file (0 bytes)");
    const cv::Mat image = decoder.decode(bytes.data(), bytes.size(), r.path.string());
    AlignedFace face = aligner.align(image, r.landmarks);
    row.path_taken = face_path_name(face.path);
    row.score = face.score;
    row.box = face.box;
    row.landmarks = std::move(face.landmarks);
    return face.chip;
  } catch (const std::exception& e) {
    row.path_taken = "error";
    row.error = e.what();
    return {};
  }
}

std::string settings_hash(const FaceAligner& aligner) {
  const std::string fp = aligner.options().fingerprint();
  return fnv1a_hex(fp.data(), fp.size());
}

}  // namespace

const char* AlignmentRow::csv_header() {
  return "image,domain,path,score,box_x,box_y,box_width,box_height,source_hash,landmarks,error";
}

std::string AlignmentRow::to_csv() const {
  std::ostringstream s;
  s << std::setprecision(6);
  s << csv_field(image) << ',' << domain_name(domain) << ',' << path_taken << ',' << score << ',' << box.x << ',' << box.y
    << ',' << box.width << ',' << box.height << ',' << source_hash << ',';
  for (std::size_t i = 0; i < landmarks.size(); ++i) s << (i ? " " : "") << landmarks[i].x << ' ' << landmarks[i].y;
  s << ',' << csv_field(error);
  return s.str();
}

AlignmentRow AlignmentRow::from_csv(const std::string& line, const std::string& where) {
  const std::vector<std::string> f = parse_csv_line(line);
  if (f.size() != 11) throw DataError(where + ": " + std::to_string(f.size()) + " fields, expected 11");
  AlignmentRow r;
  try {
    r.image = f[0];
    r.domain = parse_domain(f[1]);
    r.path_taken = f[2];
    r.score = std::stof(f[3]);
    r.box = FaceBox{std::stof(f[4]), std::stof(f[5]), std::stof(f[6]), std::stof(f[7]), r.score};
    r.source_hash = f[8];
    if (!f[9].empty()) {
      const std::vector<float> xy = parse_landmarks(f[9], where);
      for (std::size_t i = 0; i + 1 < xy.size(); i += 2) r.landmarks.emplace_back(xy[i], xy[i + 1]);
    }
    r.error = f[10];
  } catch (const std::logic_error&) {
    throw DataError(where + ": malformed number");
  }
  return r;
}

void AlignmentSummary::add(const AlignmentRow& row, bool was_reused) {
  if (row.path_taken == "error") {
    ++failed;
    errors.push_back(row.error);
    return;
  }
  ++by_path[row.path_taken][row.domain == Domain::Photo ? 0 : 1];
  ++(was_reused ? reused : aligned);
}

std::string AlignmentSummary::describe() const {
  std::size_t total[2] = {0, 0};
  for (const auto& [path, n] : by_path) {
    total[0] += n[0];
    total[1] += n[1];
  }
  std::ostringstream s;
  s << std::fixed << std::setprecision(1);
  bool first = true;
  for (const auto& [path, n] : by_path) {
    s << (first ? "" : "; ") << path << ' ' << (total[0] ? 100.0 * n[0] / total[0] : 0.0) << "% of photos, "
      << (total[1] ? 100.0 * n[1] / total[1] : 0.0) << "% of cartoons";
    first = false;
  }
  if (failed) s << (first ? "" : "; ") << failed << " image(s) could not be aligned";
  return s.str();
}

std::string file_content_hash(const fs::path& file) {
  const std::vector<std::uint8_t> bytes = read_file(file);
  return fnv1a_hex(bytes.data(), bytes.size());
}

Dataset align_with_cache_shared(const Dataset& data, const FaceAligner& aligner, const fs::path& cache_dir,
                                AlignRunOptions run, ProcessGroup* group) {
  if (group) {
    std::vector<ImageRecord> share;
    for (std::size_t i = static_cast<std::size_t>(group->rank()); i < data.size(); i += static_cast<std::size_t>(group->size()))
      share.push_back(data[i]);
    run.progress = run.progress && group->is_main();
    align_with_cache(Dataset(std::move(share), data.origin()), aligner, cache_dir, run);
    group->barrier();
    run.progress = false;  // cache hits only
  }
  return align_with_cache(data, aligner, cache_dir, run);
}

Dataset align_with_cache(const Dataset& data, const FaceAligner& aligner, const fs::path& cache_dir,
                         const AlignRunOptions& run, AlignmentSummary* summary) {
  const fs::path dir = cache_dir / settings_hash(aligner);
  fs::create_directories(dir);
  const fs::path settings = dir / "settings.txt";
  if (!fs::exists(settings)) write_file_atomically(settings, aligner.options().fingerprint() + "\n");

  std::vector<ImageRecord> records = data.records();
  std::vector<AlignmentRow> rows(records.size());
  std::vector<char> reused(records.size(), 0);
  const auto start = std::chrono::steady_clock::now();
  run_workers(records.size(), run, [&](std::size_t i, ImageDecoder& decoder) {
    ImageRecord& r = records[i];
    AlignmentRow& row = rows[i];
    row.image = r.path.string();
    row.domain = r.domain;
    std::vector<std::uint8_t> bytes;
    try {
      bytes = read_file(r.path);
    } catch (const std::exception& e) {
      row.path_taken = "error";
      row.error = e.what();
      return;
    }
    // The key: the image's content, and its landmarks when they decide the chip.
    std::string key = fnv1a_hex(bytes.data(), bytes.size());
    if (!r.landmarks.empty() && aligner.options().use_user_landmarks) {
      const auto* p = reinterpret_cast<const std::uint8_t*>(r.landmarks.data());
      key = fnv1a_hex(key.data(), key.size()) +
            fnv1a_hex(p, r.landmarks.size() * sizeof(float));
    }
    row.source_hash = key;
    const fs::path chip = dir / key.substr(0, 2) / (key + ".jpg");
    const fs::path sidecar = dir / key.substr(0, 2) / (key + ".csv");
    if (fs::exists(chip) && fs::exists(sidecar)) {
      std::ifstream in(sidecar);
      std::string line;
      if (std::getline(in, line)) {
        try {
          const AlignmentRow cached = AlignmentRow::from_csv(line, sidecar.string());
          row.path_taken = cached.path_taken;
          row.score = cached.score;
          row.box = cached.box;
          row.landmarks = cached.landmarks;
          reused[i] = 1;
          r.original = r.path;
          r.path = chip;
          r.face_path = row.path_taken;
          return;
        } catch (const DataError&) {
          // A damaged entry: align again below.
        }
      }
    }
    const cv::Mat aligned = align_one(r, bytes, decoder, aligner, row);
    if (aligned.empty()) return;  // keep the original path; the error is reported below
    fs::create_directories(chip.parent_path());
    // The sidecar first: a chip without its sidecar is never taken as done.
    // Not synced: the cache can always be made again.
    write_file_atomically(sidecar, row.to_csv() + "\n", false);
    write_image(chip, aligned, 95, false);
    r.original = r.path;
    r.path = chip;
    r.face_path = row.path_taken;
  });
  AlignmentSummary s;
  for (std::size_t i = 0; i < rows.size(); ++i) s.add(rows[i], reused[i] != 0);
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto& e : s.errors) spdlog::warn("align: {}", e);
  if (s.aligned > 0 || s.failed > 0)
    spdlog::info("aligned {} image(s) in {:.1f} s ({} reused from {}): {}", s.aligned, s.seconds, s.reused, dir.string(),
                 s.describe());
  else
    spdlog::info("aligned faces: all {} reused from {}: {}", s.reused, dir.string(), s.describe());
  if (summary) *summary = std::move(s);
  return Dataset(std::move(records), data.origin());
}

AlignmentSummary align_copy(const Dataset& data, const fs::path& source, const FaceAligner& aligner, const fs::path& out,
                            const AlignRunOptions& run) {
  const bool manifest = fs::is_regular_file(source);
  const fs::path base = manifest ? source.parent_path() : source;
  if (fs::exists(out) && fs::equivalent(out, base))
    throw Error(out.string() + ": the output folder is the data set itself; choose another");
  fs::create_directories(out);

  // Where each record goes: its path relative to the data set, or identity/file when
  // it lies outside.
  std::vector<std::string> rel(data.size());
  for (std::size_t i = 0; i < data.size(); ++i) {
    std::error_code ec;
    fs::path r = fs::relative(data[i].path, base, ec);
    if (ec || r.empty() || *r.begin() == "..") r = fs::path("images") / data[i].identity / data[i].path.filename();
    rel[i] = r.generic_string();
  }

  // Resumption: rows of earlier runs with the same settings.
  const std::string fingerprint = aligner.options().fingerprint();
  const fs::path settings_file = out / "alignment_settings.txt";
  const fs::path table = out / "alignment.csv", journal = out / "alignment.partial.csv";
  std::map<std::string, AlignmentRow> earlier;
  std::string earlier_settings;
  if (fs::exists(settings_file)) {
    std::ifstream in(settings_file);
    std::getline(in, earlier_settings);
  }
  if (earlier_settings == fingerprint) {
    for (const fs::path& f : {table, journal}) {
      std::ifstream in(f);
      std::string line;
      for (int n = 1; std::getline(in, line); ++n) {
        if (n == 1 && f == table) continue;  // header
        if (line.empty()) continue;
        try {
          AlignmentRow row = AlignmentRow::from_csv(line, f.string() + ":" + std::to_string(n));
          earlier[row.image] = std::move(row);
        } catch (const DataError& e) {
          spdlog::warn("{} (line ignored: a run was interrupted while writing it)", e.what());
        }
      }
    }
  } else if (!earlier_settings.empty()) {
    spdlog::info("{}: aligned with other settings before; aligning everything again", out.string());
  }
  write_file_atomically(settings_file, fingerprint + "\n");

  std::vector<AlignmentRow> rows(data.size());
  std::vector<char> reused(data.size(), 0);
  std::mutex journal_mutex;
  std::ofstream journal_out(journal, std::ios::app);
  const auto start = std::chrono::steady_clock::now();
  run_workers(data.size(), run, [&](std::size_t i, ImageDecoder& decoder) {
    const ImageRecord& r = data[i];
    AlignmentRow& row = rows[i];
    row.image = rel[i];
    row.domain = r.domain;
    const fs::path target = out / rel[i];
    std::vector<std::uint8_t> bytes;
    try {
      bytes = read_file(r.path);
      row.source_hash = fnv1a_hex(bytes.data(), bytes.size());
    } catch (const std::exception& e) {
      row.path_taken = "error";
      row.error = e.what();
    }
    if (row.path_taken != "error") {
      auto it = earlier.find(rel[i]);
      if (it != earlier.end() && it->second.source_hash == row.source_hash && it->second.path_taken != "error" &&
          fs::exists(target)) {
        row = it->second;
        reused[i] = 1;
        return;
      }
      const cv::Mat chip = align_one(r, bytes, decoder, aligner, row);
      if (!chip.empty()) {
        fs::create_directories(target.parent_path());
        // Same name and format as the source (only JPEG and PNG decode); JPEG at quality 95.
        // Not synced: alignment.csv, written last, is.
        write_image(target, chip, 95, /*durable=*/false);
      }
    }
    std::lock_guard<std::mutex> lock(journal_mutex);
    journal_out << row.to_csv() << '\n' << std::flush;
  });
  journal_out.close();

  AlignmentSummary s;
  for (std::size_t i = 0; i < rows.size(); ++i) s.add(rows[i], reused[i] != 0);
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  write_file_atomically(table, [&](std::ostream& o) {
    o << AlignmentRow::csv_header() << '\n';
    for (const auto& row : rows) o << row.to_csv() << '\n';
  });
  fs::remove(journal);

  // The rest of the layout: split lists, or a manifest of the aligned images.
  if (manifest) {
    std::vector<ImageRecord> aligned;
    for (std::size_t i = 0; i < data.size(); ++i) {
      if (rows[i].path_taken == "error") continue;
      ImageRecord r = data[i];
      r.path = out / rel[i];
      r.landmarks.clear();
      aligned.push_back(std::move(r));
    }
    write_csv_manifest(Dataset(std::move(aligned)), out / "manifest.csv");
  } else {
    // The split lists of the identities aligned (a --split run gets that split's list).
    std::map<std::string, std::vector<std::string>> by_split;
    std::set<std::string> seen;
    for (const auto& r : data.records())
      if (!r.split.empty() && seen.insert(r.split + '\n' + r.identity).second) by_split[r.split].push_back(r.identity);
    for (const auto& [split, identities] : by_split) {
      std::string text;
      for (const auto& id : identities) text += id + "\n";
      write_file_atomically(out / "splits" / (split + ".txt"), text);
    }
  }
  return s;
}

}  // namespace toonreid
