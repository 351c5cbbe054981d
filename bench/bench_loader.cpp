// Loader throughput: images/s through decode + train augmentation + batch assembly, for
// 0 (inline), 1, 2 and 4 worker threads, side by side in one run.
//
// Reads the real CaVI copy at ../shared/data/cavi (train split) when present, else a
// synthetic set generated into a temporary folder. Run: make bench, or
//   build/bench/bench_loader --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include "bench_main.h"

#include <filesystem>
#include <memory>

#include "core/config.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/sampler.h"
#include "data/synth/synth_dataset.h"
#include "data/transforms.h"

namespace fs = std::filesystem;
using namespace toonreid;

namespace {

// The data set is loaded once for all benchmarks.
struct BenchData {
  Dataset train;
  LabelMap labels;
  std::string source;
  std::unique_ptr<fs::path> temp;
  BenchData() {
    fs::path cavi = fs::path(TOONREID_SOURCE_DIR) / ".." / "shared" / "data" / "cavi";
    if (fs::exists(cavi / "images")) {
      train = open_dataset(cavi).split("train");
      source = "CaVI train split";
    } else {
      temp = std::make_unique<fs::path>(fs::temp_directory_path() / "toonreid_bench_synth");
      fs::remove_all(*temp);
      synth::SynthOptions o;
      o.identities = 60;
      o.size = 160;
      train = synth::generate(o, *temp).split("train");
      source = "synthetic toon faces (no CaVI copy found)";
    }
    labels = make_labels(train);
  }
  ~BenchData() {
    if (temp) fs::remove_all(*temp);
  }
};

BenchData& bench_data() {
  static BenchData data;  // one load per process, shared by the benchmark cases
  return data;
}

void BM_LoaderThroughput(benchmark::State& state) {
  const int workers = static_cast<int>(state.range(0));
  const int side = static_cast<int>(state.range(1));
  BenchData& d = bench_data();
  ConfigSchema schema;
  add_input_options(schema);
  Config config = make_config(schema, {"input.size=[" + std::to_string(side) + ", " + std::to_string(side) + "]"});
  BatchLoader loader(d.train, d.labels.record_labels, make_transforms(config, true), {workers, 2 * std::max(1, workers), 0});
  std::vector<Domain> domains;
  for (const auto& r : d.train.records()) domains.push_back(r.domain);
  CrossDomainPKSampler sampler(d.labels.record_labels, domains, 16, 4, 0);
  std::uint64_t epoch = 0;
  std::size_t images = 0;
  for (auto _ : state) {
    // 20 batches of 64 images per iteration: long enough for the prefetch pipeline to fill.
    auto batches = sampler.epoch(epoch++);
    batches.resize(std::min<std::size_t>(batches.size(), 20));
    loader.start_epoch(batches, epoch);
    while (auto b = loader.next()) {
      images += b->indices.size();
      benchmark::DoNotOptimize(b->images.data_ptr<float>());
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(images));
  state.SetLabel(d.source);
  state.counters["img/s/worker"] =
      benchmark::Counter(static_cast<double>(images) / std::max(1, workers), benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_LoaderThroughput)
    ->ArgNames({"workers", "side"})
    ->ArgsProduct({{0, 1, 2, 4}, {150, 320}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MeasureProcessCPUTime();

TOONREID_BENCHMARK_MAIN()
