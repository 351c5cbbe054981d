// Data-parallel jobs on PyTorch's own collective engine, c10d (Gloo on CPU, NCCL with
// CUDA): no networking of our own. Processes find each other as torchrun's do, from
// RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT; rank 0
// hosts the TCPStore rendezvous.
//
// Failures end a job, they never hang it: every collective has a timeout, and when one
// fails the error names the rank that is gone. For that each rank beats a heartbeat
// counter in the store once a second; a failed collective reads the counters twice and
// names the ranks whose counter stood still (or rank 0 when its store is unreachable).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/dist_env.h"

namespace toonreid {

class Config;
class ConfigSchema;

struct DistOptions {
  std::string backend = "auto";       // gloo | nccl | auto (nccl for CUDA when built in, else gloo)
  double timeout_s = 1800;            // any one collective
  double rendezvous_timeout_s = 300;  // all ranks joining
};

// Declares the `dist` section's connection keys (the trainer's own dist.* keys are
// engine/trainer_builder.h's DataParallelOptions).
void add_dist_options(ConfigSchema& schema);
DistOptions dist_options(const Config& config);

// A started collective; wait() blocks until it is done and rethrows its failure.
class PendingCollective {
 public:
  explicit PendingCollective(std::function<void()> wait) : wait_(std::move(wait)) {}
  void wait() { wait_(); }

 private:
  std::function<void()> wait_;
};

// The ranks of one job and the collectives between them (blocking unless named async).
// Tensors must have the same shape on every rank unless stated otherwise.
class ProcessGroup {
 public:
  // Joins the job: connects to (or, on rank 0, hosts) the store, waits until every
  // rank has joined, then sets up the backend. `cuda`: tensors live on the GPU.
  static std::shared_ptr<ProcessGroup> connect(const DistEnv& env, const DistOptions& options, bool cuda);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const;
  int size() const;
  bool is_main() const { return rank() == 0; }
  const DistEnv& env() const;

  void all_reduce_sum(std::vector<at::Tensor>& tensors);  // in place
  PendingCollective all_reduce_sum_async(at::Tensor tensor);
  void broadcast(std::vector<at::Tensor>& tensors, int root = 0);
  // Every rank's tensor, concatenated along dim 0 in rank order.
  at::Tensor all_gather(const at::Tensor& tensor);
  // Rows of 2-D tensors whose row counts may differ (columns agree where rows > 0):
  // the root gets them concatenated in rank order, the others an undefined tensor.
  at::Tensor gather_rows(const at::Tensor& rows, int root = 0);
  void barrier();
  // A clean end: waits for every rank, so that rank 0 does not close the store under
  // the others, and stops the heartbeat.
  void finish();

 private:
  struct Impl;
  explicit ProcessGroup(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Differentiable collectives. all_reduce_sum_with_grad: the sum over ranks; its backward
// sums the gradients over ranks too (each rank's loss depends on every rank's input).
// all_gather_with_grad: every rank's rows in rank order; its backward hands each rank
// the sum over ranks of the gradient of its own rows (the adjoint, a reduce-scatter).
at::Tensor all_reduce_sum_with_grad(ProcessGroup& group, const at::Tensor& tensor);
at::Tensor all_gather_with_grad(ProcessGroup& group, const at::Tensor& tensor);

}  // namespace toonreid
