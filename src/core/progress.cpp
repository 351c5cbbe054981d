#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace toonreid {

using Clock = std::chrono::steady_clock;

std::string format_duration(double seconds) {
  if (!(seconds >= 0)) return "?";
  long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}

bool ProgressBar::terminal_attached() { return ::isatty(STDERR_FILENO) == 1; }

ProgressBar::ProgressBar(std::size_t total, std::string label, bool enabled)
    : total_(total), label_(std::move(label)), enabled_(enabled && terminal_attached()),
      start_(Clock::now()), last_draw_(start_) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::advance(std::size_t n) {
  count_ += n;
  draw(false);
}

void ProgressBar::set_status(std::string status) { status_ = std::move(status); }

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  if (!enabled_) return;
  draw(true);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

void ProgressBar::draw(bool force) {
  if (!enabled_) return;
  auto now = Clock::now();
  // Redraw at most 10 times a second: drawing costs more than a cheap iteration.
  if (!force && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  drawn_ = true;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double rate = elapsed > 0 ? count_ / elapsed : 0.0;
  char line[512];
  if (total_ > 0) {
    const int width = 24;
    double frac = std::min(1.0, static_cast<double>(count_) / total_);
    int filled = static_cast<int>(frac * width);
    std::string bar(filled, '#');
    bar += std::string(width - filled, '-');
    double eta = rate > 0 ? (total_ - std::min(count_, total_)) / rate : -1;
    std::snprintf(line, sizeof line, "\r%s [%s] %zu/%zu %.1f/s ETA %s %s\x1b[K", label_.c_str(), bar.c_str(),
                  count_, total_, rate, format_duration(eta).c_str(), status_.c_str());
  } else {
    std::snprintf(line, sizeof line, "\r%s %zu %.1f/s %s %s\x1b[K", label_.c_str(), count_, rate,
                  format_duration(elapsed).c_str(), status_.c_str());
  }
  std::fputs(line, stderr);
  std::fflush(stderr);
}

}  // namespace toonreid
