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

TEST(Npy, IntegerArraysKeepTheirType) {
  testing::TempDir dir;
  const torch::Tensor labels32 = torch::tensor({3, -1, 7}, torch::kInt), labels64 = torch::tensor({5, 0}, torch::kLong);
  write_npy(dir / "l32.npy", labels32);
  write_npy(dir / "l64.npy", labels64);
  EXPECT_EQ(read_npy(dir / "l32.npy").scalar_type(), torch::kInt);
  EXPECT_TRUE(torch::equal(read_npy(dir / "l32.npy"), labels32));
  EXPECT_TRUE(torch::equal(read_npy(dir / "l64.npy"), labels64));
  // An unsupported type is named.
  std::string text("\x93NUMPY\x01\x00", 8);  // (the length: the literal holds a NUL)
  std::string header = "{'descr': '>u4', 'fortran_order': False, 'shape': (1,), }";
  header += std::string(64 - (10 + header.size() + 1) % 64, ' ') + "\n";
  text += std::string(1, static_cast<char>(header.size())) + std::string(1, '\0') + header + std::string(4, '\0');
  testing::write_text(dir / "u4.npy", text);
  try {
    read_npy(dir / "u4.npy");
    FAIL() << "big-endian uint32 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dtype '>u4'"), std::string::npos) << e.what();
  }
}

TEST(Npy, NumPysIntegerLabelsAreRead) {
  if (std::system("/usr/bin/python3 -c 'import numpy' > /dev/null 2>&1") != 0) GTEST_SKIP() << "no numpy";
  testing::TempDir dir;
  for (const char* type : {"int32", "int64", "int16", "uint8", "float64"}) {
    const std::string file = (dir / (std::string(type) + ".npy")).string();
    const std::string cmd = "/usr/bin/python3 -c \"import numpy as np; np.save('" + file + "', np.array([[1, 2], [3, 4]], dtype=np." +
                            type + "))\"";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    const torch::Tensor t = read_npy(file);
    EXPECT_EQ(t.sizes(), (std::vector<int64_t>{2, 2})) << type;
    EXPECT_EQ(t.to(torch::kLong)[1][0].item<int64_t>(), 3) << type;
  }
}

TEST(Npy, NumPyReadsWhatWeWrite) {
  if (std::system("/usr/bin/python3 -c 'import numpy' > /dev/null 2>&1") != 0) GTEST_SKIP() << "no numpy";
  testing::TempDir dir;
  write_npy(dir / "m.npy", torch::arange(6).to(torch::kFloat).view({2, 3}));
  std::string cmd = "/usr/bin/python3 -c \"import numpy as np; a=np.load('" + (dir / "m.npy").string() +
                    "'); assert a.shape == (2, 3) and a.dtype == np.float32 and a[1, 2] == 5\"";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}

// A header that claims more data than the file holds is refused before any allocation
// (formerly: 4e9 rows allocated, then "truncated").
TEST(Npy, AShapeBeyondTheFileIsRefusedBeforeAllocating) {
  testing::TempDir dir;
  write_npy(dir / "a.npy", torch::randn({3, 4}));
  std::string bytes = testing::read_text(dir / "a.npy");
  const auto at = bytes.find("(3,4)");
  ASSERT_NE(at, std::string::npos) << bytes.substr(0, 80);
  std::string huge = bytes;
  huge.replace(at, 5, "(4000000000,4)");
  huge.erase(huge.find('\n') - 9, 9);  // keep the header's length (its trailing spaces give way)
  testing::write_text(dir / "huge.npy", huge);
  try {
    read_npy(dir / "huge.npy");
    FAIL() << "allocated for 4e9 rows";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than the"), std::string::npos) << e.what();
  }
  std::string negative = bytes;
  negative.replace(at, 6, "(-3, 4)");
  negative.erase(negative.find('\n') - 1, 1);
  testing::write_text(dir / "neg.npy", negative);
  EXPECT_THROW(read_npy(dir / "neg.npy"), Error);
  testing::write_text(dir / "cut.npy", bytes.substr(0, 20));
  EXPECT_THROW(read_npy(dir / "cut.npy"), Error);
}

}  // namespace
}  // namespace toonreid
