#include "data/verify.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "core/error.h"
#include "core/runtime.h"
#include "data/image_io.h"

namespace toonreid {

std::vector<BadImage> verify_images(const Dataset& data, int threads,
                                    const std::function<void(std::size_t)>& progress) {
  std::vector<std::string> reasons(data.size());
  std::atomic<std::size_t> next{0}, done{0};
  auto work = [&] {
    ImageDecoder decoder;
    decoder.set_strict(true);
    for (std::size_t i; (i = next++) < data.size();) {
      try {
        cv::Mat m = decoder.read(data[i].path);
        if (m.empty()) reasons[i] = "decoded to an empty image";
      } catch (const std::exception& e) {
        reasons[i] = e.what();
      }
      ++done;
    }
  };
  const int n = threads > 0 ? threads : available_cores();
  std::vector<std::thread> pool;
  for (int t = 0; t < n; ++t) pool.emplace_back(work);
  // The calling thread reports progress while the pool decodes.
  while (done.load() < data.size() && progress) {
    progress(done.load());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (auto& t : pool) t.join();
  if (progress) progress(done.load());
  std::vector<BadImage> bad;
  for (std::size_t i = 0; i < data.size(); ++i)
    if (!reasons[i].empty()) bad.push_back({data[i].path.string(), reasons[i]});
  return bad;
}

}  // namespace toonreid
