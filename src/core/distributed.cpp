// c10d's Gloo process group is declared only when USE_C10D_GLOO is defined (as in
// PyTorch's own build); Debian's libtorch is built with it.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif

#include "core/distributed.h"

#include <spdlog/spdlog.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "core/config.h"

namespace toonreid {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

milliseconds to_ms(double seconds) { return milliseconds(static_cast<long long>(seconds * 1000)); }

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

std::string join_ranks(const std::vector<int>& ranks) {
  std::string s;
  for (int r : ranks) s += (s.empty() ? "" : ", ") + std::to_string(r);
  return s;
}

std::string heartbeat_key(int rank) { return "toonreid/heartbeat/" + std::to_string(rank); }
std::string joined_key(int rank) { return "toonreid/joined/" + std::to_string(rank); }

// A connection to rank 0's store (`host`: rank 0 itself, serving it).
c10::intrusive_ptr<c10d::TCPStore> open_store(const DistEnv& env, milliseconds timeout, bool host = false) {
  c10d::TCPStoreOptions o;
  o.port = static_cast<std::uint16_t>(env.master_port);
  o.isServer = host;
  o.waitWorkers = false;
  o.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
}

// The tensors as one flat buffer (one collective for all), and back.
at::Tensor flatten(const std::vector<at::Tensor>& tensors) {
  std::vector<at::Tensor> parts;
  for (const auto& t : tensors) parts.push_back(t.detach().reshape({-1}));
  return at::cat(parts);
}

void unflatten_into(const at::Tensor& flat, std::vector<at::Tensor>& tensors) {
  int64_t offset = 0;
  for (auto& t : tensors) {
    t.detach().copy_(flat.narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
}

}  // namespace

void add_dist_options(ConfigSchema& schema) {
  schema.describe_section("dist",
                          "Data-parallel jobs (toonreid launch, or torchrun's RANK / WORLD_SIZE / MASTER_ADDR / "
                          "MASTER_PORT variables); ignored in a single process.");
  schema.add_string("dist.backend", "auto", "c10d backend: gloo (CPU), nccl (CUDA) or auto")
      .one_of({"auto", "gloo", "nccl"});
  schema.add_float("dist.timeout_s", 1800, "Seconds a collective may wait for the other ranks before the job ends")
      .greater_than(0);
  schema.add_float("dist.rendezvous_timeout_s", 300, "Seconds to wait for every rank to join").greater_than(0);
}

DistOptions dist_options(const Config& config) {
  DistOptions o;
  o.backend = config.get_string("dist.backend");
  o.timeout_s = config.get_float("dist.timeout_s");
  o.rendezvous_timeout_s = config.get_float("dist.rendezvous_timeout_s");
  return o;
}

struct ProcessGroup::Impl {
  DistEnv env;
  DistOptions options;
  bool cuda = false;
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;

  // Heartbeat: its own store connection, beaten by a thread.
  std::thread heartbeat;
  std::mutex heartbeat_mutex;
  std::condition_variable heartbeat_cv;
  bool stopping = false;

  void start_heartbeat() {
    auto client = open_store(env, milliseconds(5000));
    client->add(heartbeat_key(env.rank), 1);
    heartbeat = std::thread([this, client] {
      std::unique_lock<std::mutex> lock(heartbeat_mutex);
      while (!heartbeat_cv.wait_for(lock, milliseconds(1000), [this] { return stopping; })) {
        try {
          client->add(heartbeat_key(env.rank), 1);
        } catch (const std::exception&) {
          return;  // the store is gone (rank 0 ended); a collective will say so
        }
      }
    });
  }

  void stop_heartbeat() {
    {
      std::lock_guard<std::mutex> lock(heartbeat_mutex);
      stopping = true;
    }
    heartbeat_cv.notify_all();
    if (heartbeat.joinable()) heartbeat.join();
  }

  // Which ranks are gone: those whose heartbeat stood still over 2.5 s, or rank 0 when
  // its store cannot be reached.
  std::string diagnose() const {
    try {
      auto client = open_store(env, milliseconds(3000));
      auto read = [&] {
        std::vector<int64_t> beats;
        for (int r = 0; r < env.world_size; ++r) beats.push_back(client->add(heartbeat_key(r), 0));
        return beats;
      };
      const auto before = read();
      std::this_thread::sleep_for(milliseconds(2500));
      const auto after = read();
      std::vector<int> gone;
      for (int r = 0; r < env.world_size; ++r)
        if (r != env.rank && after[static_cast<std::size_t>(r)] == before[static_cast<std::size_t>(r)]) gone.push_back(r);
      if (gone.empty())
        return "every other rank is still alive (one may be stuck, or slower than dist.timeout_s = " +
               std::to_string(static_cast<long long>(options.timeout_s)) + " s)";
      return std::string(gone.size() == 1 ? "rank " : "ranks ") + join_ranks(gone) +
             (gone.size() == 1 ? " is" : " are") + " gone (no heartbeat)";
    } catch (const std::exception&) {
      return env.rank == 0 ? "the rendezvous store failed"
                           : "rank 0 is gone (its rendezvous store at " + env.master_addr + ":" +
                                 std::to_string(env.master_port) + " does not answer)";
    }
  }

  template <class F>
  void run(const char* what, F&& op) const {
    try {
      op();
    } catch (const DistributedError&) {
      throw;
    } catch (const std::exception& e) {
      throw DistributedError("rank " + std::to_string(env.rank) + ": " + what + " failed: " + diagnose() + " [" +
                             first_line(e.what()) + "]");
    }
  }

  at::Tensor on_backend(const at::Tensor& t) const { return cuda ? t.to(at::kCUDA) : t; }
};

ProcessGroup::ProcessGroup(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ProcessGroup::~ProcessGroup() {
  if (impl_) impl_->stop_heartbeat();
}

std::shared_ptr<ProcessGroup> ProcessGroup::connect(const DistEnv& env, const DistOptions& options, bool cuda) {
  auto impl = std::make_unique<Impl>();
  impl->env = env;
  impl->options = options;
  impl->cuda = cuda;
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  const std::string me = "rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size);
  const milliseconds rendezvous = to_ms(options.rendezvous_timeout_s);
  const auto deadline = Clock::now() + rendezvous;

  // 1. The store: rank 0 hosts it, the others connect (c10d retries until the timeout).
  try {
    impl->store = open_store(env, rendezvous, /*host=*/env.rank == 0);
  } catch (const std::exception& e) {
    if (env.rank == 0)
      throw DistributedError(me + ": cannot host the rendezvous store on " + where +
                             " (is MASTER_PORT used by another job?): " + first_line(e.what()));
    throw DistributedError(me + ": rank 0's rendezvous store at " + where + " could not be reached within " +
                           std::to_string(static_cast<long long>(options.rendezvous_timeout_s)) +
                           " s (dist.rendezvous_timeout_s): " + first_line(e.what()));
  }

  // 2. Everyone joins; a rank that does not come within the timeout is named.
  impl->store->set(joined_key(env.rank), std::vector<uint8_t>{1});
  std::vector<std::string> keys;
  for (int r = 0; r < env.world_size; ++r) keys.push_back(joined_key(r));
  while (!impl->store->check(keys)) {
    if (Clock::now() > deadline) {
      std::vector<int> missing;
      for (int r = 0; r < env.world_size; ++r)
        if (!impl->store->check({joined_key(r)})) missing.push_back(r);
      throw DistributedError(me + ": the rendezvous at " + where + " did not complete within " +
                             std::to_string(static_cast<long long>(options.rendezvous_timeout_s)) +
                             " s (dist.rendezvous_timeout_s): rank" + (missing.size() == 1 ? " " : "s ") +
                             join_ranks(missing) + " never joined");
    }
    std::this_thread::sleep_for(milliseconds(50));
  }

  // 3. The backend, on its own key prefix of the store.
  std::string backend = options.backend;
  if (backend == "auto") backend = cuda ? "nccl" : "gloo";
#ifndef USE_C10D_NCCL
  if (backend == "nccl") {
    if (options.backend == "nccl")
      throw DistributedError("dist.backend = nccl: this LibTorch is built without NCCL (a CUDA build has it); use gloo");
    backend = "gloo";
  }
#endif
  auto prefixed = c10::make_intrusive<c10d::PrefixStore>("toonreid/" + backend, impl->store);
  try {
    if (backend == "gloo") {
      auto o = c10d::ProcessGroupGloo::Options::create(to_ms(options.timeout_s));
      if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
        o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      else if (env.world_size == env.local_world_size)  // one machine: loopback
        o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else
        o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      o->threads = 2;
      impl->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, env.rank, env.world_size, o);
    } else {
#ifdef USE_C10D_NCCL
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = to_ms(options.timeout_s);
      impl->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, env.rank, env.world_size, o);
#endif
    }
  } catch (const std::exception& e) {
    throw DistributedError(me + ": setting up the " + backend + " backend failed: " + first_line(e.what()));
  }
  impl->start_heartbeat();
  spdlog::info("{} joined the job at {} ({} backend)", me, where, backend);
  return std::shared_ptr<ProcessGroup>(new ProcessGroup(std::move(impl)));
}

int ProcessGroup::rank() const { return impl_->env.rank; }
int ProcessGroup::size() const { return impl_->env.world_size; }
const DistEnv& ProcessGroup::env() const { return impl_->env; }

void ProcessGroup::all_reduce_sum(std::vector<at::Tensor>& tensors) {
  if (tensors.empty()) return;
  std::vector<at::Tensor> buffer{impl_->on_backend(flatten(tensors))};
  impl_->run("all_reduce", [&] { impl_->pg->allreduce(buffer)->wait(); });
  unflatten_into(buffer[0], tensors);
}

PendingCollective ProcessGroup::all_reduce_sum_async(at::Tensor tensor) {
  std::vector<at::Tensor> buffer{tensor};
  c10::intrusive_ptr<c10d::Work> work;
  impl_->run("all_reduce", [&] { work = impl_->pg->allreduce(buffer); });
  Impl* impl = impl_.get();
  return PendingCollective([impl, work] { impl->run("all_reduce", [&] { work->wait(); }); });
}

void ProcessGroup::broadcast(std::vector<at::Tensor>& tensors, int root) {
  if (tensors.empty()) return;
  std::vector<at::Tensor> buffer{impl_->on_backend(flatten(tensors))};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  impl_->run("broadcast", [&] { impl_->pg->broadcast(buffer, o)->wait(); });
  unflatten_into(buffer[0], tensors);
}

at::Tensor ProcessGroup::all_gather(const at::Tensor& tensor) {
  std::vector<at::Tensor> input{impl_->on_backend(tensor.contiguous())};
  std::vector<std::vector<at::Tensor>> output(1);
  for (int r = 0; r < size(); ++r) output[0].push_back(at::empty_like(input[0]));
  impl_->run("all_gather", [&] { impl_->pg->allgather(output, input)->wait(); });
  return at::cat(output[0]).to(tensor.device());
}

at::Tensor ProcessGroup::gather_rows(const at::Tensor& rows, int root) {
  if (rows.defined() && rows.dim() != 2) throw Error("gather_rows: a 2-D tensor is needed");
  const int64_t n = rows.defined() ? rows.size(0) : 0, d = rows.defined() ? rows.size(1) : 0;
  const at::Tensor shapes = all_gather(at::tensor({n, d}, at::kLong)).view({size(), 2});
  int64_t most = 0, cols = 0;
  for (int r = 0; r < size(); ++r) {
    most = std::max(most, shapes[r][0].item<int64_t>());
    if (shapes[r][0].item<int64_t>() > 0) cols = shapes[r][1].item<int64_t>();
  }
  const auto options = rows.defined() ? rows.options() : at::TensorOptions().dtype(at::kFloat);
  at::Tensor padded = at::zeros({most, cols}, options);
  if (n > 0) padded.narrow(0, 0, n).copy_(rows);
  std::vector<at::Tensor> input{impl_->on_backend(padded)};
  std::vector<std::vector<at::Tensor>> output;
  if (rank() == root) {
    output.resize(1);
    for (int r = 0; r < size(); ++r) output[0].push_back(at::empty_like(input[0]));
  }
  c10d::GatherOptions o;
  o.rootRank = root;
  impl_->run("gather", [&] { impl_->pg->gather(output, input, o)->wait(); });
  if (rank() != root) return at::Tensor();
  std::vector<at::Tensor> parts;
  for (int r = 0; r < size(); ++r) parts.push_back(output[0][static_cast<std::size_t>(r)].narrow(0, 0, shapes[r][0].item<int64_t>()));
  return at::cat(parts).to(options.device());
}

void ProcessGroup::barrier() {
  impl_->run("barrier", [&] { impl_->pg->barrier()->wait(); });
}

void ProcessGroup::finish() {
  barrier();
  impl_->stop_heartbeat();
}

namespace {

ProcessGroup* group_of(torch::autograd::AutogradContext* ctx) {
  return reinterpret_cast<ProcessGroup*>(ctx->saved_data["group"].toInt());
}

// Autograd saves non-tensor state as IValues: the group travels as its address, valid
// for the step (the group outlives every graph built with it).
struct AllReduceSumFunction : public torch::autograd::Function<AllReduceSumFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, int64_t group) {
    ctx->saved_data["group"] = group;
    std::vector<at::Tensor> t{x.detach().clone()};
    reinterpret_cast<ProcessGroup*>(group)->all_reduce_sum(t);
    return t[0];
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    std::vector<at::Tensor> g{grads[0].contiguous().clone()};
    group_of(ctx)->all_reduce_sum(g);
    return {g[0], at::Tensor()};
  }
};

struct AllGatherFunction : public torch::autograd::Function<AllGatherFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, int64_t group) {
    ctx->saved_data["group"] = group;
    ctx->saved_data["rows"] = x.size(0);
    return reinterpret_cast<ProcessGroup*>(group)->all_gather(x.detach());
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    ProcessGroup* group = group_of(ctx);
    const int64_t rows = ctx->saved_data["rows"].toInt();
    std::vector<at::Tensor> g{grads[0].contiguous().clone()};
    group->all_reduce_sum(g);
    return {g[0].narrow(0, group->rank() * rows, rows).clone(), at::Tensor()};
  }
};

}  // namespace

at::Tensor all_reduce_sum_with_grad(ProcessGroup& group, const at::Tensor& tensor) {
  return AllReduceSumFunction::apply(tensor, reinterpret_cast<int64_t>(&group));
}

at::Tensor all_gather_with_grad(ProcessGroup& group, const at::Tensor& tensor) {
  return AllGatherFunction::apply(tensor, reinterpret_cast<int64_t>(&group));
}

}  // namespace toonreid
