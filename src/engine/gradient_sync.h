// Data-parallel gradient averaging, overlapped with the backward pass: parameters are
// grouped into buckets of about `bucket_bytes` (in reverse registration order, roughly
// the order their gradients are produced); a hook after each parameter's gradient
// accumulation copies it into its bucket, and a bucket whose gradients are all in is
// all-reduced at once, asynchronously, while backward carries on. Buckets start in a
// fixed order on every rank, as the collectives require. finish_step() waits for the
// rest and writes the averages back into the parameters' .grad.
// (c10d's Reducer does this for PyTorch's DDP, but Debian ships LibTorch without the
// headers it needs.)
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

namespace toonreid {

class ProcessGroup;

struct GradientSyncStats {
  double wait_seconds = 0;  // finish_step's wait for all-reduces still running after backward
};

class GradientAverager {
 public:
  // `params`: the trainable parameters, in the same order on every rank; `names` label them in errors.
  GradientAverager(ProcessGroup& group, std::vector<torch::Tensor> params, std::vector<std::string> names,
                   std::size_t bucket_bytes);
  ~GradientAverager();
  GradientAverager(const GradientAverager&) = delete;
  GradientAverager& operator=(const GradientAverager&) = delete;

  void begin_step();                 // before backward
  GradientSyncStats finish_step();   // after backward: every .grad holds the mean over ranks

  struct State;  // shared with the autograd hooks, which may outlive this object

 private:
  std::shared_ptr<State> state_;
};

}  // namespace toonreid
