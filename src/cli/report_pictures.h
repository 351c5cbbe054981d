// Ranked-list pictures of a few queries per direction, as PNG bytes for reports.
#pragma once

#include <cstdint>
#include <vector>

#include "cli/run_setup.h"
#include "eval/html_report.h"

namespace toonreid::cli {

std::vector<ReportPicture> ranked_list_pictures(const SplitRetrieval& r, std::size_t per_direction, std::uint64_t seed,
                                                std::size_t top_k = 5);

}  // namespace toonreid::cli
