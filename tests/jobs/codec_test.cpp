#include "jobs/codec.hpp"

#include <gtest/gtest.h>

#include <ctime>

#include "brood/result.hpp"
#include "support/schema.hpp"

namespace brood::jobs {
namespace {

TEST(Base64, RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    EXPECT_EQ(Base64Decode(Base64Encode(bytes)), bytes) << "length " << i;
    bytes += static_cast<char>(i * 37);
  }
  EXPECT_EQ(Base64Encode("AAE\x02"), "QUFFAg==");
  EXPECT_EQ(Base64Decode("AAEC"), std::string("\x00\x01\x02", 3));
}

TEST(Base64, RejectsGarbage) {
  EXPECT_FALSE(Base64Decode("A"));
  EXPECT_FALSE(Base64Decode("AA*A"));
  EXPECT_FALSE(Base64Decode("AA A"));
}

TEST(Utf8, AcceptsValidRejectsInvalid) {
  EXPECT_TRUE(IsValidUtf8("plain ascii\n"));
  EXPECT_TRUE(IsValidUtf8("h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));          // truncated
}

TEST(ResultJson, NonUtf8OutputBecomesBase64AndValidates) {
  Result r;
  r.id = "x";
  r.limits = Limits{}.Resolved();  // as the engine reports them: cpu_ms filled in
  r.status = TaskStatus::kOk;
  r.exit_code = 0;
  r.stdout_data = "\xff\xfe";
  r.stderr_data = "fine";
  std::string json = ResultToJson(r);
  EXPECT_NE(json.find(R"("stdout":{"base64":"//4="})"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("stderr":"fine")"), std::string::npos) << json;
  EXPECT_TRUE(testing::ValidResult(json));
}

TEST(ResultJson, CollectedFilesInNameOrderWithBinaryAsBase64) {
  Result r;
  r.id = "f";
  r.limits = Limits{}.Resolved();  // as the engine reports them: cpu_ms filled in
  r.status = TaskStatus::kOk;
  r.exit_code = 0;
  r.files = {{"b", "\xff"}, {"a", "text"}, {"c/d", ""}};
  std::string json = ResultToJson(r);
  EXPECT_NE(json.find(R"("files":{"a":"text","b":{"base64":"/w=="},"c/d":""})"), std::string::npos)
      << json;
  EXPECT_TRUE(testing::ValidResult(json));
}

// A task may collect as many (empty) files as it has inodes; the record is written in time
// linear in their number (it was quadratic: 60,000 files cost 12 s of the supervisor).
TEST(ResultJson, HundredThousandCollectedFilesInLinearTime) {
  Result r;
  r.id = "many";
  r.status = TaskStatus::kOk;
  r.exit_code = 0;
  for (int i = 0; i < 100000; ++i) r.files["f" + std::to_string(i)] = "";
  const std::clock_t start = std::clock();
  std::string json = ResultToJson(r);
  const double cpu_s = static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
  EXPECT_LT(cpu_s, 3.0) << "CPU seconds to write the record";
  EXPECT_NE(json.find(R"("f99999":"")"), std::string::npos);
}

TEST(ResultJson, SandboxErrorIsShortAndValid) {
  Result r;
  r.id = "y";
  r.status = TaskStatus::kSandboxError;
  r.error = "no user namespaces";
  std::string json = ResultToJson(r);
  EXPECT_EQ(json.find("exit_code"), std::string::npos);
  EXPECT_NE(json.find(R"("error_kind":"internal")"), std::string::npos)
      << "a sandbox_error nobody classified is brood's own: " << json;
  EXPECT_TRUE(testing::ValidResult(json));
  r.error_kind = ErrorKind::kCancelled;
  json = ResultToJson(r);
  EXPECT_NE(json.find(R"("error_kind":"cancelled")"), std::string::npos) << json;
  EXPECT_TRUE(testing::ValidResult(json));
}

TEST(ResultJson, OnlySandboxErrorsHaveAnErrorKind) {
  Result r;
  r.id = "z";
  r.status = TaskStatus::kOk;
  r.error_kind = ErrorKind::kInternal;  // ignored: the task ran
  EXPECT_EQ(ResultToJson(r).find("error_kind"), std::string::npos);
}

}  // namespace
}  // namespace brood::jobs
