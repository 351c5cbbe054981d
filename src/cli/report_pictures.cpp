#include "cli/report_pictures.h"

#include "data/image_io.h"
#include "eval/ranked_list.h"

namespace toonreid::cli {

std::vector<ReportPicture> ranked_list_pictures(const SplitRetrieval& r, std::size_t per_direction, std::uint64_t seed,
                                                std::size_t top_k) {
  std::vector<ReportPicture> out;
  if (per_direction == 0) return out;
  for (const auto& d : r.directions) {
    const auto queries = pick_queries(d, per_direction, seed);
    RankedListOptions o;
    o.top_k = top_k;
    o.tile = 88;
    out.push_back({d.name + ": " + std::to_string(queries.size()) + " random queries, top " + std::to_string(top_k),
                   encode_png(render_ranked_lists(r.data, d, queries, o))});
  }
  return out;
}

}  // namespace toonreid::cli
