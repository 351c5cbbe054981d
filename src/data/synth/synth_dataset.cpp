#include "data/synth/synth_dataset.h"

#include <atomic>
#include <cstdio>
#include <exception>
#include <fstream>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/random.h"
#include "core/runtime.h"
#include "data/image_io.h"
#include "data/synth/face_params.h"
#include "data/synth/renderer.h"
#include "data/webcaricature.h"

namespace toonreid::synth {

namespace fs = std::filesystem;

std::string identity_name(int index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "Toon_%04d", index + 1);
  return buf;
}

namespace {

FaceParams identity_params(const SynthOptions& o, int identity) {
  Rng rng(derive_seed(o.seed, {0x1D, static_cast<std::uint64_t>(identity)}));
  return sample_identity(rng);
}

void validate(const SynthOptions& o) {
  if (o.identities < 2) throw Error("synth: --identities must be at least 2 (one per split)");
  if (o.photos < 1 || o.cartoons < 1) throw Error("synth: --photos and --cartoons must be at least 1");
  if (o.size < 32 || o.size > 1024) throw Error("synth: --size must be in [32, 1024]");
  if (!(o.test_fraction > 0 && o.test_fraction < 1)) throw Error("synth: --test-fraction must be in (0, 1)");
  if (o.exaggeration_min < 0 || o.exaggeration_min > o.exaggeration_max)
    throw Error("synth: exaggeration range must satisfy 0 <= min <= max");
}

}  // namespace

cv::Mat render_sample(const SynthOptions& o, int identity, Domain domain, int index) {
  const FaceParams face = identity_params(o, identity);
  Rng rng(derive_seed(o.seed, {static_cast<std::uint64_t>(identity), static_cast<std::uint64_t>(domain),
                               static_cast<std::uint64_t>(index)}));
  if (domain == Domain::Photo) return render_photo(face, o.size, rng);
  auto style = static_cast<CartoonStyle>(rng.integer(0, static_cast<int>(CartoonStyle::kCount) - 1));
  double amount = rng.uniform(o.exaggeration_min, o.exaggeration_max);
  return render_cartoon(face, o.size, style, amount, rng);
}

Dataset generate(const SynthOptions& o, const fs::path& out, const std::function<void(std::size_t)>& progress) {
  validate(o);
  if (fs::exists(out) && !fs::is_empty(out))
    throw Error("synth: output folder " + out.string() + " exists and is not empty; choose a new one");
  fs::create_directories(out / "images");
  fs::create_directories(out / "splits");

  struct Job {
    int identity;
    Domain domain;
    int index;
  };
  std::vector<Job> jobs;
  for (int id = 0; id < o.identities; ++id) {
    fs::create_directories(out / "images" / identity_name(id));
    for (int k = 0; k < o.photos; ++k) jobs.push_back({id, Domain::Photo, k});
    for (int k = 0; k < o.cartoons; ++k) jobs.push_back({id, Domain::Cartoon, k});
  }

  std::atomic<std::size_t> next{0}, done{0};
  std::exception_ptr error;
  std::mutex error_mutex, progress_mutex;
  auto work = [&] {
    try {
      for (std::size_t j; (j = next++) < jobs.size();) {
        const Job& job = jobs[j];
        cv::Mat img = render_sample(o, job.identity, job.domain, job.index);
        char name[32];
        std::snprintf(name, sizeof name, "%c%05d.jpg", job.domain == Domain::Photo ? 'P' : 'C', job.index + 1);
        write_image(out / "images" / identity_name(job.identity) / name, img, o.jpeg_quality);
        std::size_t d = ++done;
        if (progress) {
          std::lock_guard<std::mutex> lock(progress_mutex);
          progress(d);
        }
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      next = jobs.size();  // stop the other threads early
    }
  };
  const int threads = o.threads > 0 ? o.threads : available_cores();
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);

  // Identity-disjoint split: the first identities train, the rest test.
  int n_test = std::max(1, static_cast<int>(o.identities * o.test_fraction + 0.5));
  n_test = std::min(n_test, o.identities - 1);
  const int n_train = o.identities - n_test;
  std::string train, test;
  for (int id = 0; id < o.identities; ++id) (id < n_train ? train : test) += identity_name(id) + "\n";
  write_file_atomically(out / "splits" / "train.txt", train);
  write_file_atomically(out / "splits" / "test.txt", test);

  nlohmann::json meta = {{"generator", "toonreid synth"},
                         {"identities", o.identities},
                         {"photos_per_identity", o.photos},
                         {"cartoons_per_identity", o.cartoons},
                         {"size", o.size},
                         {"seed", o.seed},
                         {"test_fraction", o.test_fraction},
                         {"exaggeration", {o.exaggeration_min, o.exaggeration_max}},
                         {"train_identities", n_train},
                         {"test_identities", n_test}};
  write_file_atomically(out / "synth.json", meta.dump(2) + "\n");
  return load_webcaricature(out);
}

}  // namespace toonreid::synth
