#include "data/webcaricature.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <map>
#include <set>

#include "core/error.h"
#include "core/text.h"

namespace toonreid {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string join_some(const std::vector<std::string>& xs, std::size_t most = 10) {
  std::string out;
  for (std::size_t i = 0; i < xs.size() && i < most; ++i) out += (i ? ", " : "") + xs[i];
  if (xs.size() > most) out += ", ... (" + std::to_string(xs.size()) + " in all)";
  return out;
}

// identity -> split, from <root>/splits/*.txt
std::map<std::string, std::string> read_splits(const fs::path& split_dir, const std::set<std::string>& known) {
  std::map<std::string, std::string> assignment;
  if (!fs::is_directory(split_dir)) return assignment;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(split_dir))
    if (e.is_regular_file() && e.path().extension() == ".txt") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    std::string split = file.stem().string();
    std::ifstream in(file);
    if (!in) throw DataError("cannot read split file " + file.string());
    std::string line;
    for (int line_no = 1; std::getline(in, line); ++line_no) {
      std::string id = trim(line);
      if (id.empty() || id[0] == '#') continue;
      std::string where = file.string() + ":" + std::to_string(line_no);
      if (!known.count(id))
        throw DataError(where + ": split '" + split + "' names identity '" + id +
                        "', which has no folder under the image folder");
      auto [it, inserted] = assignment.emplace(id, split);
      if (!inserted)
        throw DataError(where + ": identity '" + id + "' is listed in split '" + it->second +
                        "' and again in split '" + split + "'; splits must be identity-disjoint");
    }
  }
  return assignment;
}

}  // namespace

bool looks_like_image(const fs::path& file) {
  static const std::set<std::string> kExtensions = {".jpg", ".jpeg", ".png", ".bmp", ".webp",
                                                     ".gif", ".tif", ".tiff"};
  return kExtensions.count(lower(file.extension().string())) > 0;
}

fs::path webcaricature_image_dir(const fs::path& root) {
  for (const char* name : {"images", "OriginalImages"})
    if (fs::is_directory(root / name)) return root / name;
  throw DataError(root.string() + ": not a WebCaricature-layout data set (no 'images' or 'OriginalImages' folder)");
}

Dataset load_webcaricature(const fs::path& root) {
  if (!fs::is_directory(root)) throw DataError("data set folder not found: " + root.string());
  const fs::path image_dir = webcaricature_image_dir(root);

  std::vector<fs::path> identity_dirs;
  for (const auto& e : fs::directory_iterator(image_dir))
    if (e.is_directory()) identity_dirs.push_back(e.path());
  std::sort(identity_dirs.begin(), identity_dirs.end());

  std::set<std::string> known;
  for (const auto& d : identity_dirs) known.insert(d.filename().string());
  auto split_of = read_splits(root / "splits", known);
  const bool has_splits = !split_of.empty();

  std::vector<ImageRecord> records;
  std::vector<std::string> empty_dirs, unassigned, nested;
  const bool has_points = fs::is_directory(root / "FacialPoints");
  for (const auto& dir : identity_dirs) {
    const std::string identity = dir.filename().string();
    if (const std::string why = identity_name_problem(identity); !why.empty())
      throw DataError(root.string() + ": identity folder '" + printable(identity) + "' " + why + " (rename it)");
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.is_directory()) {
        nested.push_back(e.path().string());
        continue;
      }
      const std::string name = e.path().filename().string();
      if (!looks_like_image(e.path()) || name.empty()) continue;
      char kind = static_cast<char>(std::toupper(static_cast<unsigned char>(name[0])));
      if (kind == 'P' || kind == 'C') files.push_back(e.path());
    }
    if (files.empty()) {
      empty_dirs.push_back(identity);
      continue;
    }
    std::sort(files.begin(), files.end());
    auto split_it = split_of.find(identity);
    std::string split = split_it != split_of.end() ? split_it->second : std::string();
    if (has_splits && split.empty()) unassigned.push_back(identity);
    for (const auto& f : files) {
      char kind = static_cast<char>(std::toupper(static_cast<unsigned char>(f.filename().string()[0])));
      records.push_back({f, identity, kind == 'P' ? Domain::Photo : Domain::Cartoon, split, {}});
      // WebCaricature's FacialPoints/<Identity>/<image stem>.txt: 17 "x y" lines.
      const fs::path points = root / "FacialPoints" / identity / (f.stem().string() + ".txt");
      if (has_points && fs::exists(points)) {
        std::ifstream in(points);
        std::stringstream text;
        text << in.rdbuf();
        records.back().landmarks = parse_landmarks(text.str(), points.string());
      }
    }
  }
  if (records.empty())
    throw DataError(root.string() + ": no images found (expected <Identity>/P*.jpg and C*.jpg under " +
                    image_dir.string() + ")");

  Dataset data(std::move(records), root.string());
  if (!empty_dirs.empty())
    data.add_warning(std::to_string(empty_dirs.size()) + " identity folder(s) without P*/C* images skipped: " +
                     join_some(empty_dirs));
  if (!has_splits)
    data.add_warning("no split files under " + (root / "splits").string() + ": every identity is unassigned");
  if (!unassigned.empty())
    data.add_warning(std::to_string(unassigned.size()) + " identity(ies) listed in no split file: " +
                     join_some(unassigned));
  if (!nested.empty())
    data.add_warning(std::to_string(nested.size()) + " nested folder(s) inside identity folders ignored: " +
                     join_some(nested, 5));
  return data;
}

}  // namespace toonreid
