#include "core/atomic_file.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "test_util.h"

namespace toonreid {
namespace {

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(AtomicFile, WritesAndReplaces) {
  testing::TempDir dir;
  auto path = dir / "nested/file.txt";
  write_file_atomically(path, "first");
  EXPECT_EQ(read_all(path), "first");
  write_file_atomically(path, "second");
  EXPECT_EQ(read_all(path), "second");
}

TEST(AtomicFile, FailedWriteKeepsTheOldFileAndLeavesNoTemporary) {
  testing::TempDir dir;
  auto path = dir / "model.bin";
  write_file_atomically(path, "good checkpoint");
  EXPECT_THROW(write_file_atomically(path,
                                     [](std::ostream& out) {
                                       out << "half written";
                                       throw std::runtime_error("crash while writing");
                                     }),
               std::runtime_error);
  EXPECT_EQ(read_all(path), "good checkpoint");
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1);
}

}  // namespace
}  // namespace toonreid
