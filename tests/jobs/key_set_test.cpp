#include "jobs/key_set.hpp"

#include <gtest/gtest.h>

#include <string>

namespace brood::jobs {
namespace {

TEST(KeySet, FlagsAccumulatePerKey) {
  KeySet s;
  EXPECT_EQ(s.Get("a"), 0);
  EXPECT_EQ(s.Mark("a", KeySet::kDone), 0);
  EXPECT_EQ(s.Mark("a", KeySet::kSeen), KeySet::kDone);
  EXPECT_EQ(s.Get("a"), KeySet::kDone | KeySet::kSeen);
  EXPECT_EQ(s.Get("b"), 0);
  EXPECT_EQ(s.Mark("", KeySet::kSeen), 0) << "the empty key is a key like any other";
  EXPECT_EQ(s.size(), 2u);
}

TEST(KeySet, AMillionDistinctKeysStayDistinct) {
  KeySet s;
  const int n = 1000000;
  for (int i = 0; i < n; ++i) ASSERT_EQ(s.Mark("job/" + std::to_string(i), KeySet::kSeen), 0) << i;
  EXPECT_EQ(s.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; i += 997) EXPECT_EQ(s.Get("job/" + std::to_string(i)), KeySet::kSeen);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(s.Get("other/" + std::to_string(i)), 0);
  // Keys that differ only in length or a tail byte.
  EXPECT_EQ(s.Get(std::string("job/1\0", 6)), 0);
  EXPECT_EQ(s.Get("job/10000000"), 0);
}

}  // namespace
}  // namespace brood::jobs
