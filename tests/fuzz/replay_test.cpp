// Every input the fuzzers kept (tests/fuzz/corpus/<target>/: seeds, and any crash found, added
// as a regression) runs through the same entry points in the ordinary build.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz/targets.hpp"

namespace {

void Replay(const std::string& target, void (*fn)(const uint8_t*, size_t)) {
  const std::filesystem::path dir =
      std::filesystem::path(BROOD_SOURCE_DIR) / "tests/fuzz/corpus" / target;
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), {});
    SCOPED_TRACE(entry.path().string());
    fn(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    ++n;
  }
  EXPECT_GT(n, 0) << "no corpus in " << dir;
}

TEST(FuzzCorpus, JobParser) { Replay("job_parser", brood::fuzz::JobParser); }
TEST(FuzzCorpus, ZygoteWire) { Replay("zygote_wire", brood::fuzz::ZygoteWire); }
TEST(FuzzCorpus, ServeRequest) { Replay("serve_request", brood::fuzz::ServeRequest); }

}  // namespace
