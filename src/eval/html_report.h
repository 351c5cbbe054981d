// The evaluation report as one self-contained HTML file (inline CSS, SVG charts and
// base64 PNG pictures; no scripts, nothing fetched): facts about the run, the metrics
// table, the CMC curves, the training curves when a training log is given, the hardest
// identities, and ranked-list pictures.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/base64.h"
#include "eval/cross_domain.h"
#include "eval/open_set.h"
#include "eval/training_log.h"

namespace toonreid {

struct ReportPicture {
  std::string caption;
  std::vector<std::uint8_t> png;
};

struct ReportInput {
  std::string title = "toonreid evaluation";
  std::vector<std::pair<std::string, std::string>> facts;  // shown as a definition list
  std::vector<const RetrievalDirection*> directions;        // with metrics (CMC curve)
  std::vector<std::string> identity_names;                  // label -> name, for the breakdown
  std::vector<EpochRecord> training;                        // empty: no training section
  std::vector<ReportPicture> pictures;
  std::vector<const DirectionOpenSet*> open_set;            // empty: no open-set section
  // Per direction (same order as `directions`): mAP by the face-chain path of the query
  // (cross_domain.h's by_query_path); empty: no such section.
  std::vector<std::vector<PathMetrics>> by_query_path;
};

std::string render_html_report(const ReportInput& input);


}  // namespace toonreid
