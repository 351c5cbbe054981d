#include "engine/gradient_sync.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <chrono>
#include <mutex>
#include <optional>

#include "core/distributed.h"
#include "core/error.h"

namespace toonreid {

struct GradientAverager::State {
  struct Bucket {
    std::vector<std::size_t> members;  // parameter indices
    std::vector<int64_t> offsets;      // of each member in `flat`
    torch::Tensor flat;
    int waiting = 0;  // members whose gradient has not arrived this step
    std::optional<PendingCollective> pending;
  };

  ProcessGroup* group = nullptr;
  std::vector<torch::Tensor> params;
  std::vector<std::string> names;
  std::vector<std::size_t> bucket_of, slot_of;
  std::vector<Bucket> buckets;
  std::vector<bool> arrived;
  std::size_t next_launch = 0;
  std::mutex mutex;  // hooks may run on an autograd device thread
  bool active = true;
  // Accumulators are held here: autograd keeps them only weakly, and a new one (without
  // the hook) would be made for the next step.
  std::vector<std::pair<std::shared_ptr<torch::autograd::Node>, std::uintptr_t>> hooks;

  void launch_ready() {
    while (next_launch < buckets.size() && buckets[next_launch].waiting == 0) {
      Bucket& b = buckets[next_launch++];
      b.pending.emplace(group->all_reduce_sum_async(b.flat));
    }
  }

  void on_gradient(std::size_t index) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!active || arrived[index]) return;
    const torch::Tensor& grad = params[index].grad();
    if (!grad.defined()) return;
    Bucket& b = buckets[bucket_of[index]];
    b.flat.narrow(0, b.offsets[slot_of[index]], grad.numel()).copy_(grad.reshape({-1}));
    arrived[index] = true;
    --b.waiting;
    launch_ready();
  }
};

namespace {

// Runs after the gradient accumulator of one parameter has written its .grad.
class AfterAccumulation : public torch::autograd::FunctionPostHook {
 public:
  AfterAccumulation(std::weak_ptr<GradientAverager::State> state, std::size_t index)
      : state_(std::move(state)), index_(index) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list&) override {
    if (auto s = state_.lock()) s->on_gradient(index_);
    return outputs;
  }

 private:
  std::weak_ptr<GradientAverager::State> state_;
  std::size_t index_;
};

}  // namespace

GradientAverager::GradientAverager(ProcessGroup& group, std::vector<torch::Tensor> params,
                                   std::vector<std::string> names, std::size_t bucket_bytes)
    : state_(std::make_shared<State>()) {
  State& s = *state_;
  s.group = &group;
  s.params = std::move(params);
  s.names = std::move(names);
  s.bucket_of.resize(s.params.size());
  s.slot_of.resize(s.params.size());
  // Reverse order: the last layers' gradients come first in backward.
  std::size_t bytes = bucket_bytes;  // start a new bucket
  for (std::size_t k = s.params.size(); k-- > 0;) {
    const torch::Tensor& p = s.params[k];
    const std::size_t size = static_cast<std::size_t>(p.numel()) * p.element_size();
    const bool fits = !s.buckets.empty() && bytes + size <= bucket_bytes &&
                      s.buckets.back().flat.scalar_type() == p.scalar_type() &&
                      s.params[s.buckets.back().members.front()].device() == p.device();
    if (!fits) {
      s.buckets.emplace_back();
      s.buckets.back().flat = torch::empty({0}, p.options());
      bytes = 0;
    }
    State::Bucket& b = s.buckets.back();
    s.bucket_of[k] = s.buckets.size() - 1;
    s.slot_of[k] = b.members.size();
    b.offsets.push_back(b.members.empty() ? 0 : b.offsets.back() + s.params[b.members.back()].numel());
    b.members.push_back(k);
    bytes += size;
  }
  for (auto& b : s.buckets) {
    int64_t total = 0;
    for (std::size_t m : b.members) total += s.params[m].numel();
    b.flat = torch::zeros({total}, b.flat.options());
  }
  s.arrived.assign(s.params.size(), false);
  s.hooks.reserve(s.params.size());
  for (std::size_t k = 0; k < s.params.size(); ++k) {
    auto accumulator = torch::autograd::impl::grad_accumulator(s.params[k]);
    if (!accumulator) throw Error("gradient averaging: parameter '" + s.names[k] + "' is not a trainable leaf");
    const auto key = accumulator->add_post_hook(std::make_unique<AfterAccumulation>(state_, k));
    s.hooks.emplace_back(accumulator, key);
  }
}

GradientAverager::~GradientAverager() {
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->active = false;
  }
  for (auto& [accumulator, key] : state_->hooks) accumulator->del_post_hook(key);
}

void GradientAverager::begin_step() {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  s.arrived.assign(s.params.size(), false);
  for (auto& b : s.buckets) {
    b.waiting = static_cast<int>(b.members.size());
    b.pending.reset();
  }
  s.next_launch = 0;
}

GradientSyncStats GradientAverager::finish_step() {
  State& s = *state_;
  std::vector<std::string> missing;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    for (std::size_t k = 0; k < s.params.size(); ++k)
      if (!s.arrived[k]) missing.push_back(s.names[k]);
  }
  if (!missing.empty()) {
    std::string list;
    for (std::size_t i = 0; i < missing.size() && i < 5; ++i) list += (i ? ", " : "") + missing[i];
    throw Error("data-parallel training: " + std::to_string(missing.size()) + " trainable parameter(s) got no gradient "
                "this step (" + list + (missing.size() > 5 ? ", ..." : "") + "); every rank must use every "
                "trainable parameter in each step");
  }
  GradientSyncStats stats;
  const auto start = std::chrono::steady_clock::now();
  for (auto& b : s.buckets) b.pending->wait();
  stats.wait_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double inverse = 1.0 / s.group->size();
  torch::NoGradGuard no_grad;
  for (auto& b : s.buckets) {
    b.flat.mul_(inverse);
    for (std::size_t j = 0; j < b.members.size(); ++j) {
      torch::Tensor& p = s.params[b.members[j]];
      p.mutable_grad().copy_(b.flat.narrow(0, b.offsets[j], p.numel()).view(p.sizes()));
    }
  }
  return stats;
}

}  // namespace toonreid
