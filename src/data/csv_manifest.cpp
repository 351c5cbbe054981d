#include "data/csv_manifest.h"

#include <fstream>
#include <map>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"

namespace toonreid {

namespace fs = std::filesystem;

std::vector<std::string> parse_csv_line(const std::string& line) {
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') field += '"', ++i;
        else quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
    } else if (c != '\r') {
      field += c;
    }
  }
  if (quoted) throw DataError("unterminated quoted field");
  fields.push_back(std::move(field));
  for (auto& f : fields) {
    auto b = f.find_first_not_of(" \t");
    auto e = f.find_last_not_of(" \t");
    f = b == std::string::npos ? std::string() : f.substr(b, e - b + 1);
  }
  return fields;
}

Dataset load_csv_manifest(const fs::path& manifest) {
  std::ifstream in(manifest);
  if (!in) throw DataError("cannot read manifest " + manifest.string());
  const fs::path base = manifest.parent_path();
  std::string line;
  int line_no = 0;
  std::map<std::string, std::size_t> column;
  auto where = [&] { return manifest.string() + ":" + std::to_string(line_no); };

  while (column.empty() && std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::vector<std::string> header;
    try {
      header = parse_csv_line(line);
    } catch (const DataError& e) {
      throw DataError(where() + ": " + e.what());
    }
    for (std::size_t i = 0; i < header.size(); ++i) column[header[i]] = i;
    for (const char* required : {"path", "identity", "domain"})
      if (!column.count(required))
        throw DataError(where() + ": header lacks column '" + required +
                        "' (expected path,identity,domain[,split][,landmarks])");
  }
  if (column.empty()) throw DataError(manifest.string() + ": empty manifest (no header)");

  std::vector<ImageRecord> records;
  std::vector<std::string> missing;
  const bool has_split = column.count("split") > 0;
  const bool has_landmarks = column.count("landmarks") > 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos || line[0] == '#') continue;
    std::vector<std::string> f;
    try {
      f = parse_csv_line(line);
    } catch (const DataError& e) {
      throw DataError(where() + ": " + e.what());
    }
    auto get = [&](const char* name) -> const std::string& {
      std::size_t i = column.at(name);
      if (i >= f.size())
        throw DataError(where() + ": row has " + std::to_string(f.size()) + " fields, column '" + name +
                        "' is missing");
      return f[i];
    };
    ImageRecord r;
    const std::string& path = get("path");
    if (path.empty()) throw DataError(where() + ": empty path");
    r.path = fs::path(path).is_absolute() ? fs::path(path) : base / path;
    r.identity = get("identity");
    if (r.identity.empty()) throw DataError(where() + ": empty identity for " + path);
    if (const std::string why = identity_name_problem(r.identity); !why.empty())
      throw DataError(where() + ": identity '" + printable(r.identity) + "' " + why);
    try {
      r.domain = parse_domain(get("domain"));
    } catch (const DataError& e) {
      throw DataError(where() + ": " + e.what());
    }
    if (has_split) r.split = get("split");
    if (has_landmarks && !get("landmarks").empty()) r.landmarks = parse_landmarks(get("landmarks"), where());
    // A stat per row keeps the scan lazy (no decoding) yet catches typos early.
    if (!fs::exists(r.path)) missing.push_back(where() + ": " + r.path.string());
    records.push_back(std::move(r));
  }
  if (!missing.empty()) {
    std::string list;
    for (std::size_t i = 0; i < missing.size() && i < 20; ++i) list += "\n  " + missing[i];
    if (missing.size() > 20) list += "\n  ... (" + std::to_string(missing.size()) + " in all)";
    throw DataError(manifest.string() + ": " + std::to_string(missing.size()) + " image file(s) not found:" + list);
  }
  if (records.empty()) throw DataError(manifest.string() + ": the manifest lists no images");
  return Dataset(std::move(records), manifest.string());
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

void write_csv_manifest(const Dataset& data, const fs::path& manifest) {
  const auto quote = csv_field;
  const fs::path base = manifest.has_parent_path() ? manifest.parent_path() : fs::path(".");
  write_file_atomically(manifest, [&](std::ostream& out) {
    // Landmarks a user supplied travel with their images.
    bool landmarks = false;
    for (const auto& r : data.records()) landmarks |= !r.landmarks.empty();
    out << "path,identity,domain,split" << (landmarks ? ",landmarks" : "") << "\n";
    for (const auto& r : data.records()) {
      std::error_code ec;
      fs::path rel = fs::relative(r.source_path(), base, ec);
      std::string p = (ec || rel.empty()) ? r.source_path().string() : rel.string();
      out << quote(p) << ',' << quote(r.identity) << ',' << domain_name(r.domain) << ',' << quote(r.split);
      if (landmarks) {
        out << ',';
        for (std::size_t i = 0; i < r.landmarks.size(); ++i) out << (i ? " " : "") << r.landmarks[i];
      }
      out << '\n';
    }
  });
}

}  // namespace toonreid
