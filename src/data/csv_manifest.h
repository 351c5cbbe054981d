// Reads a CSV manifest: a header naming the columns `path,identity,domain[,split][,landmarks]`
// (any order, extra columns ignored), then one image per row. Relative paths are
// resolved against the manifest's folder. Fields may be double-quoted (RFC 4180).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace toonreid {

// Throws DataError naming the file and line for a malformed row, an unknown domain,
// a missing column, missing image files (listed), or a manifest without rows.
Dataset load_csv_manifest(const std::filesystem::path& manifest);

// A field as CSV writes it: double-quoted (quotes doubled) when it holds a comma, a
// quote or a line break; as it is otherwise.
std::string csv_field(const std::string& text);

// Splits one CSV line into fields; throws DataError on an unterminated quote.
std::vector<std::string> parse_csv_line(const std::string& line);

// Writes `data` as a manifest with paths relative to the manifest's folder when possible.
void write_csv_manifest(const Dataset& data, const std::filesystem::path& manifest);

}  // namespace toonreid
