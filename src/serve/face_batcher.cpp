#include "serve/face_batcher.h"

#include <ATen/Parallel.h>

#include <chrono>

#include "core/runtime.h"

namespace toonreid {

EmbeddedFaces embed_faces(const Embedder& embedder, const cv::Mat& rgb8, const FaceSelection& selection) {
  EmbeddedFaces out;
  out.faces = embedder.find_faces(rgb8, selection);
  std::vector<cv::Mat> chips;
  for (const auto& f : out.faces) chips.push_back(f.chip);
  out.embeddings = embedder.embed_chips(chips);
  return out;
}

FaceBatcher::FaceBatcher(const Embedder& embedder, double window_ms, int max_batch)
    : embedder_(embedder), window_ms_(std::max(0.0, window_ms)), max_batch_(static_cast<std::size_t>(std::max(1, max_batch))) {
  worker_ = std::thread([this] { work(); });
}

FaceBatcher::~FaceBatcher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

FaceBatcher::Announcement::Announcement(FaceBatcher& batcher) : batcher_(batcher) {
  std::lock_guard lock(batcher_.mutex_);
  ++batcher_.coming_;
}

FaceBatcher::Announcement::~Announcement() {
  {
    std::lock_guard lock(batcher_.mutex_);
    if (handed_over_) return;
    --batcher_.coming_;  // never handed over (a picture that did not decode): not waited for
  }
  batcher_.cv_.notify_all();
}

EmbeddedFaces FaceBatcher::run(const cv::Mat& rgb8, const FaceSelection& selection, Announcement* announced) {
  auto job = std::make_unique<Job>();
  job->picture = rgb8;
  job->selection = selection;
  std::future<EmbeddedFaces> result = job->done.get_future();
  {
    std::lock_guard lock(mutex_);
    if (announced && !announced->handed_over_) {
      announced->handed_over_ = true;
      --coming_;
    }
    queue_.push_back(std::move(job));
  }
  cv_.notify_all();
  return result.get();
}

std::size_t FaceBatcher::batches() const {
  std::lock_guard lock(mutex_);
  return batches_;
}

void FaceBatcher::work() {
  at::set_num_threads(std::max(1, available_cores()));  // the batch has the cores to itself
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stopping, nothing left
    // The first picture waits a little for the announced others, none when none is coming.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double, std::milli>(window_ms_);
    cv_.wait_until(lock, deadline, [this] { return stopping_ || queue_.size() >= max_batch_ || coming_ == 0; });
    std::vector<std::unique_ptr<Job>> batch;
    while (!queue_.empty() && batch.size() < max_batch_) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    ++batches_;
    lock.unlock();
    process(batch);
    lock.lock();
  }
}

namespace {

// One bad picture must not fail the others: after a batch failed, each alone, to learn
// which.
template <class Batch>
void each_alone(const Embedder& embedder, Batch& batch) {
  for (auto& j : batch) {
    try {
      j->done.set_value(embed_faces(embedder, j->picture, j->selection));
    } catch (...) {
      j->done.set_exception(std::current_exception());
    }
  }
}

}  // namespace

void FaceBatcher::process(std::vector<std::unique_ptr<Job>>& batch) {
  std::vector<cv::Mat> pictures;
  std::vector<FaceSelection> selections;
  for (const auto& j : batch) pictures.push_back(j->picture), selections.push_back(j->selection);
  std::vector<std::vector<AlignedFace>> faces;
  torch::Tensor all;
  try {
    faces = embedder_.find_faces(pictures, selections);
    std::vector<cv::Mat> chips;
    for (const auto& fs : faces)
      for (const auto& f : fs) chips.push_back(f.chip);
    all = embedder_.embed_chips(chips);
  } catch (...) {
    return each_alone(embedder_, batch);
  }
  int64_t row = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    EmbeddedFaces out;
    const auto n = static_cast<int64_t>(faces[i].size());
    out.embeddings = all.narrow(0, row, n).clone();
    row += n;
    out.faces = std::move(faces[i]);
    batch[i]->done.set_value(std::move(out));
  }
}

}  // namespace toonreid
