#include "retrieval/npy.h"

#include <gtest/gtest.h>

#include <torch/utils.h>

#include <cstdlib>

#include "core/error.h"
#include "test_util.h"

namespace toonreid {
namespace {

TEST(Npy, RoundTripAndHeaderAlignment) {
  testing::TempDir dir;
  torch::Tensor t = torch::randn({5, 7});
  write_npy(dir / "a.npy", t);
  EXPECT_TRUE(torch::equal(read_npy(dir / "a.npy"), t));
  // The data must start at a multiple of 64 bytes (NumPy's format 1.0 alignment).
  EXPECT_EQ((std::filesystem::file_size(dir / "a.npy") - 5 * 7 * 4) % 64, 0u);
  torch::Tensor v = torch::arange(3).to(torch::kFloat);
  write_npy(dir / "v.npy", v);
  EXPECT_TRUE(torch::equal(read_npy(dir / "v.npy"), v));
  testing::write_text(dir / "bad.npy", "nope");
  EXPECT_THROW(read_npy(dir / "bad.npy"), Error);
}

TEST(Npy, NumPyReadsWhatWeWrite) {
  if (std::system("/usr/bin/python3 -c 'import numpy' > /dev/null 2>&1") != 0) GTEST_SKIP() << "no numpy";
  testing::TempDir dir;
  write_npy(dir / "m.npy", torch::arange(6).to(torch::kFloat).view({2, 3}));
  std::string cmd = "/usr/bin/python3 -c \"import numpy as np; a=np.load('" + (dir / "m.npy").string() +
                    "'); assert a.shape == (2, 3) and a.dtype == np.float32 and a[1, 2] == 5\"";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}

}  // namespace
}  // namespace toonreid
