// Concurrent requests' pictures embedded together: a request hands its decoded picture
// over and waits; one worker thread gathers the pictures that arrive within a short
// window (or until a batch is full), finds their faces with one detector pass and embeds
// every face of every picture with one forward pass, then hands each request its own.
// On a few cores this beats one network pass per request thread (fewer, larger matrix
// products, and no oversubscription of the cores by many requests' threads).
#pragma once

#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <opencv2/core/mat.hpp>
#include <torch/types.h>

#include "serve/embedder.h"

namespace toonreid {

struct EmbeddedFaces {
  std::vector<AlignedFace> faces;  // as Embedder::find_faces gives them
  torch::Tensor embeddings;        // [faces, dim], L2-normalised
};

class FaceBatcher {
 public:
  // window_ms: how long the first picture of a batch waits for others; max_batch:
  // pictures per batch. The embedder must outlive the batcher.
  FaceBatcher(const Embedder& embedder, double window_ms = 5, int max_batch = 16);
  ~FaceBatcher();  // finishes the pictures handed over, then stops
  FaceBatcher(const FaceBatcher&) = delete;
  FaceBatcher& operator=(const FaceBatcher&) = delete;

  // A picture that will be handed over soon (a request being decoded). The worker waits
  // for announced pictures, up to the window, and not at all when none is coming: a lone
  // request pays no window. RAII: ends when the picture is handed over or on destruction.
  class Announcement {
   public:
    explicit Announcement(FaceBatcher& batcher);
    ~Announcement();
    Announcement(const Announcement&) = delete;
    Announcement& operator=(const Announcement&) = delete;

   private:
    friend class FaceBatcher;
    FaceBatcher& batcher_;
    bool handed_over_ = false;
  };

  // Blocks until the picture's faces are found and embedded; rethrows what went wrong
  // with this picture (DataError...). `announced`: this picture's announcement, if any.
  // Thread-safe.
  EmbeddedFaces run(const cv::Mat& rgb8, const FaceSelection& selection, Announcement* announced = nullptr);

  // Batches processed so far (each one detector pass and one embedding pass).
  std::size_t batches() const;

 private:
  struct Job {
    cv::Mat picture;
    FaceSelection selection;
    std::promise<EmbeddedFaces> done;
  };
  void work();
  void process(std::vector<std::unique_ptr<Job>>& batch);

  const Embedder& embedder_;
  const double window_ms_;
  const std::size_t max_batch_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Job>> queue_;
  std::size_t coming_ = 0;   // announced pictures not handed over yet
  std::size_t batches_ = 0;
  bool stopping_ = false;
  std::thread worker_;
};

// Embeds the faces of one picture without batching (the same results).
EmbeddedFaces embed_faces(const Embedder& embedder, const cv::Mat& rgb8, const FaceSelection& selection);

}  // namespace toonreid
