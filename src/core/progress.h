// A terminal progress bar with rate and ETA. Silent when stderr is not a terminal or
// when the user asked for --quiet, so logs and pipes stay clean.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace toonreid {

class ProgressBar {
 public:
  // total == 0 means unknown: the bar shows count and rate only.
  ProgressBar(std::size_t total, std::string label, bool enabled);
  ~ProgressBar();  // finishes the line if something was drawn
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void advance(std::size_t n = 1);
  // Extra text shown after the counters (e.g. "loss 1.23").
  void set_status(std::string status);
  void finish();

  std::size_t count() const { return count_; }
  // Whether a bar is drawn for this process's stderr (a terminal) unless quiet.
  static bool terminal_attached();

 private:
  void draw(bool force);
  std::size_t total_;
  std::size_t count_ = 0;
  std::string label_;
  std::string status_;
  bool enabled_;
  bool drawn_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

// "1h02m", "3m05s", "12s".
std::string format_duration(double seconds);

}  // namespace toonreid
