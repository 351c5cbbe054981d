// Training speed, to compare with the PyTorch reference (bench/reference/train_step.py;
// bench/compare_pytorch.sh runs both and prints the ratios):
//   BM_TrainStep: one iteration (forward, losses, backward, SGD step) of dlib_resnet +
//     BNNeck head on a fixed 64-image batch at 150x150, cross-domain soft-margin triplet
//     + label-smoothed cross-entropy.
//   BM_TrainEpoch: one full epoch of the CaVI train split (cross-domain PK batches) fed by
//     toonreid's loader with 2 workers, timed end to end (loader start included) after two
//     warm-up steps; counts images/s and reports the number of batches, which the
//     reference then trains on.
#include <benchmark/benchmark.h>

#include "bench_main.h"

#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include <filesystem>

#include "core/config.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/sampler.h"
#include "data/transforms.h"
#include "engine/objective.h"
#include "model/dlib_resnet.h"
#include "model/reid_model.h"

namespace fs = std::filesystem;
using namespace toonreid;

namespace {

struct Setup {
  ReidModel model{nullptr};
  std::unique_ptr<torch::optim::SGD> opt;
  ObjectiveOptions objective;
  explicit Setup(int64_t classes) {
    torch::manual_seed(0);
    model = ReidModel(std::make_shared<DlibResNet>(true),
                      EmbeddingHead(128, classes, Pooling::Average, NeckFeature::AfterBN));
    model->train();
    opt = std::make_unique<torch::optim::SGD>(model->parameters(),
                                              torch::optim::SGDOptions(1e-3).momentum(0.9).weight_decay(5e-4));
    objective.triplet.soft_margin = true;
  }
  void step(const torch::Tensor& images, const torch::Tensor& labels, const torch::Tensor& domains) {
    opt->zero_grad();
    HeadOutput out = model->forward(images);
    compute_objective(out, labels, domains, torch::Tensor(), objective).total.backward();
    opt->step();
  }
};

int threads_from_env() {
  const char* t = std::getenv("TOONREID_BENCH_THREADS");
  return t ? std::atoi(t) : 2;
}

void BM_TrainStep(benchmark::State& state) {
  set_compute_threads(threads_from_env());
  Setup s(102);
  torch::Tensor images = torch::randn({64, 3, 150, 150});
  torch::Tensor labels = torch::arange(16).repeat_interleave(4);
  torch::Tensor domains = torch::arange(64).remainder(2);
  for (int i = 0; i < 3; ++i) s.step(images, labels, domains);
  for (auto _ : state) s.step(images, labels, domains);
  state.SetItemsProcessed(state.iterations() * 64);
}

void BM_TrainEpoch(benchmark::State& state) {
  const fs::path cavi = fs::path(TOONREID_SOURCE_DIR) / ".." / "shared" / "data" / "cavi";
  if (!fs::exists(cavi / "images")) {
    state.SkipWithError("no CaVI copy at ../shared/data/cavi");
    return;
  }
  set_compute_threads(threads_from_env());
  Dataset train = open_dataset(cavi).split("train");
  LabelMap labels = make_labels(train);
  ConfigSchema schema;
  add_input_options(schema);
  Config config = make_config(schema, {"input.size=[150, 150]", "input.mean=[0.4815, 0.45883, 0.40901]",
                                       "input.std=[1, 1, 1]"});
  BatchLoader loader(train, labels.record_labels, make_transforms(config, true), {static_cast<int>(state.range(0)), 4, 0});
  std::vector<Domain> domains;
  for (const auto& r : train.records()) domains.push_back(r.domain);
  CrossDomainPKSampler sampler(labels.record_labels, domains, 16, 4, 0);
  Setup s(static_cast<int64_t>(labels.names.size()));
  {
    torch::Tensor images = torch::randn({64, 3, 150, 150});
    for (int i = 0; i < 2; ++i) s.step(images, torch::arange(16).repeat_interleave(4), torch::arange(64).remainder(2));
  }
  std::uint64_t epoch = 0;
  std::size_t images = 0, batch_count = 0;
  for (auto _ : state) {
    auto batches = sampler.epoch(epoch);
    batch_count = batches.size();
    loader.start_epoch(batches, epoch++);
    while (auto b = loader.next()) {
      s.step(b->images, b->labels, b->domains);
      images += b->indices.size();
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(images));
  state.counters["batches"] = static_cast<double>(batch_count);
}

}  // namespace

BENCHMARK(BM_TrainStep)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5);
BENCHMARK(BM_TrainEpoch)->Arg(2)->ArgName("workers")->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1)->Repetitions(3);

TOONREID_BENCHMARK_MAIN()
