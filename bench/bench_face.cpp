// Face alignment throughput on this machine: each network alone (images/s on one
// thread), then the whole chain over a data set with the cores split two ways
// (one image at a time on every core, or one image per core), side by side in one run.
//
// Reads the CaVI test split at ../shared/data/cavi when present (its first --images
// images), else synthetic toon faces. Run: build/bench/bench_face [--images 400] [--repeats 3]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/runtime.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "data/synth/synth_dataset.h"
#include "face/aligned_dataset.h"
#include "face/dlib_detector.h"
#include "face/landmark_net.h"
#include "face/ssd_mobilenet.h"
#include "model/faceapi_weights.h"

namespace fs = std::filesystem;
using namespace toonreid;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) try {
  ensure_fast_blas(argv);
  keep_freed_memory();  // as the toonreid program does
  int images = 400, repeats = 3;
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--images")) images = std::stoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--repeats")) repeats = std::stoi(argv[i + 1]);
  }
  const fs::path tmp = fs::temp_directory_path() / "toonreid_bench_face";
  fs::remove_all(tmp);
  Dataset data;
  std::string source;
  const fs::path cavi = fs::path(TOONREID_SOURCE_DIR) / ".." / "shared" / "data" / "cavi";
  if (fs::exists(cavi / "images")) {
    data = open_dataset(cavi).split("test");
    source = "CaVI test split";
  } else {
    synth::SynthOptions o;
    o.identities = 40;
    o.size = 160;
    data = synth::generate(o, tmp / "synth");
    source = "synthetic toon faces (160 px)";
  }
  std::vector<ImageRecord> subset(data.records().begin(),
                                  data.records().begin() + std::min<std::size_t>(data.size(), static_cast<std::size_t>(images)));
  // The first identities' photos and cartoons.
  data = Dataset(subset);
  std::printf("data: %s, %zu images; %d cores; medians of %d runs\n\n", source.c_str(), data.size(), available_cores(), repeats);

  const fs::path weights = default_faceapi_folder(TOONREID_SOURCE_DIR);
  std::vector<cv::Mat> pictures;
  for (std::size_t i = 0; i < std::min<std::size_t>(data.size(), 40); ++i) pictures.push_back(read_image(data[i].path));

  set_compute_threads(1);
  {
    SsdMobilenetV1 ssd(weights);
    FaceLandmarkNet68 landmarks(weights);
    DlibFaceFinder dlib(default_dlib_predictor(), 1);
    auto rate = [&](const char* name, auto&& fn) {
      fn(pictures.front());
      std::vector<double> r;
      for (int k = 0; k < repeats; ++k) {
        const auto t = std::chrono::steady_clock::now();
        for (const cv::Mat& m : pictures) fn(m);
        r.push_back(pictures.size() / seconds_since(t));
      }
      std::printf("%-52s %8.1f images/s\n", name, median(r));
    };
    std::printf("one thread, one image at a time:\n");
    rate("SSD MobileNet v1 (512x512, incl. resize)", [&](const cv::Mat& m) { ssd.detect({m}); });
    rate("68-point landmark net (112x112 crop)", [&](const cv::Mat& m) { landmarks.predict({m}); });
    rate("dlib HOG detector + shape predictor (upsample 1)", [&](const cv::Mat& m) { dlib.find(m); });
  }

  std::printf("\nthe whole chain (ssd, dlib, letterbox), decode to written chip:\n");
  FaceOptions options;
  options.weights_dir = weights;
  FaceAligner aligner(options);
  const int cores = available_cores();
  struct Split { int workers, threads; };
  for (Split s : {Split{1, cores}, Split{cores, 1}}) {
    std::vector<double> r;
    for (int k = 0; k < repeats; ++k) {
      fs::remove_all(tmp / "cache");
      AlignRunOptions run;
      run.workers = s.workers;
      run.threads_per_worker = s.threads;
      AlignmentSummary summary;
      const auto t = std::chrono::steady_clock::now();
      align_with_cache(data, aligner, tmp / "cache", run, &summary);
      r.push_back(data.size() / seconds_since(t));
    }
    std::printf("%d worker(s) x %d thread(s)%26s %8.1f images/s\n", s.workers, s.threads, "", median(r));
  }
  fs::remove_all(tmp);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_face: %s\n", e.what());
  return 1;
}
