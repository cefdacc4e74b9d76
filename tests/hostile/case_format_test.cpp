// The hostile case format's host-dependent parts (hostile_case.hpp): a case that requires a host
// property names a known one, its alternative want is checked at load on every host, and the
// runner picks the want by the probe. Also prints what the host probes found, for the log.
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>

#include "hostile/hostile_case.hpp"
#include "support/cli.hpp"
#include "support/host_probe.hpp"

namespace brood::testing {
namespace {

using nlohmann::json;

// Loads one case line; the errors LoadCases reported, joined ("" when it loaded).
std::string LoadError(const std::string& line, std::vector<HostileCase>* out = nullptr) {
  std::vector<std::string> errors;
  auto cases = LoadCases(TempFile("case.jsonl", line + "\n"), Placeholders{}, &errors);
  if (out) *out = cases;
  std::string all;
  for (const auto& e : errors) all += e + "\n";
  return all;
}

constexpr char kJob[] =
    R"("why": "a case of the format test", "job": {"id": "t", "cmd": ["true"]})";

// One case line: the job above and `rest` (written over several lines here, joined into one).
std::string Line(std::string rest) {
  for (char& ch : rest)
    if (ch == '\n') ch = ' ';
  return std::string("{") + kJob + ", " + rest + "}";
}

TEST(HostileCaseFormat, RequiresAKnownPropertyAndAWantOtherwiseThatIsChecked) {
  std::vector<HostileCase> cases;
  EXPECT_EQ(LoadError(Line(R"("want": {"status": "ok"}, "requires": "int80-enters-kernel",
                               "want_otherwise": {"status": "signaled", "signal": 11})"),
                      &cases),
            "");
  ASSERT_EQ(cases.size(), 1u);
  EXPECT_EQ(cases[0].needs, std::vector<std::string>{"int80-enters-kernel"});

  // Every mistake fails at load, whatever this host would pick.
  EXPECT_NE(LoadError(Line(R"("want": {"status": "ok"}, "requires": "int80-enter-kernel",
                               "want_otherwise": {"status": "ok"})"))
                .find("unknown property int80-enter-kernel"),
            std::string::npos);
  EXPECT_NE(LoadError(Line(R"("want": {"status": "ok"}, "want_otherwise": {"status": "ok"})"))
                .find("want_otherwise without requires"),
            std::string::npos);
  EXPECT_NE(LoadError(Line(R"("want": {"status": "ok"}, "requires": "int80-enters-kernel",
                               "want_otherwise": {"status": "ok", "stdot": ""})"))
                .find("want_otherwise has an unknown key stdot"),
            std::string::npos);
  EXPECT_NE(LoadError(Line(R"("want": {"status": "ok"}, "requires": "int80-enters-kernel",
                               "want_otherwise": {"status": "ok", "stdout": 3})"))
                .find("want_otherwise.stdout is malformed"),
            std::string::npos);
  EXPECT_NE(LoadError(Line(R"("want": {"status": "ok"}, "requires": "int80-enters-kernel",
                               "want_otherwise": {"signal": 11})"))
                .find("want_otherwise has no status"),
            std::string::npos);
  EXPECT_NE(LoadError(Line(R"("want": {"status": "ok", "limits_hit_onl": ["cpu"]})"))
                .find("want has an unknown key limits_hit_onl"),
            std::string::npos);
  EXPECT_NE(LoadError(Line(R"("want": {"status": "ok"}, "require": "int80-enters-kernel")"))
                .find("unknown key require"),
            std::string::npos);
  EXPECT_NE(LoadError(Line(R"("want": {"status": "ok"}, "requires": "host-has:usr/bin/gdb")"))
                .find("unknown property"),
            std::string::npos)
      << "host-has: takes an absolute path";
}

TEST(HostileCaseFormat, TheHostPicksTheWant) {
  std::vector<HostileCase> cases;
  ASSERT_EQ(LoadError(Line(R"("want": {"status": "violation"}, "requires": "int80-enters-kernel",
                               "want_otherwise": {"status": "signaled"})"),
                      &cases),
            "");
  const HostileCase& c = cases.at(0);
  std::string note;
  auto yes = [](const std::string&, std::string* why) -> std::optional<bool> {
    *why = "probed yes";
    return true;
  };
  auto no = [](const std::string&, std::string* why) -> std::optional<bool> {
    *why = "probed no";
    return false;
  };
  EXPECT_EQ(WantHere(c, yes, &note), &c.want);
  EXPECT_EQ(note, "");
  EXPECT_EQ(WantHere(c, no, &note), &c.want_otherwise);
  EXPECT_NE(note.find("probed no"), std::string::npos) << "the runner prints why";

  // Without want_otherwise, the case is left out where the host lacks the property, saying why.
  ASSERT_EQ(
      LoadError(Line(R"("want": {"status": "ok"}, "requires": ["host-has:/usr/bin/gdb"])"), &cases),
      "");
  EXPECT_EQ(WantHere(cases.at(0), no, &note), nullptr);
  EXPECT_NE(note.find("left out on this host: probed no"), std::string::npos) << note;
}

TEST(HostileCaseFormat, LimitsHitOnlyBoundsWhatARaceMayAdd) {
  json want = {
      {"status", "cpu_limit"}, {"limits_hit", {"cpu"}}, {"limits_hit_only", {"cpu", "pids"}}};
  auto result = [](json hit) { return json{{"status", "cpu_limit"}, {"limits_hit", hit}}; };
  EXPECT_EQ(CheckResult(want, result({"cpu"})), "");
  EXPECT_EQ(CheckResult(want, result({"cpu", "pids"})), "");
  EXPECT_NE(CheckResult(want, result({"pids"})), "") << "cpu is certain";
  EXPECT_NE(CheckResult(want, result({"cpu", "memory"})), "") << "memory is not a race's";
}

// The probes the suite's host-dependent expectations rest on, run here so that the log of every
// run says what this host does (and a probe that cannot decide fails, rather than skip).
TEST(HostProbe, Int80GivesAnAnswer) {
  const Int80Behavior& b = Int80OnThisHost();
  std::cout << "[ HOST     ] " << b.what << std::endl;
  EXPECT_TRUE(b.enters_kernel || b.signal != 0) << b.what;
  std::string why;
  EXPECT_EQ(HostHas("int80-enters-kernel", &why), b.enters_kernel);
  EXPECT_EQ(HostHas("host-has:/bin", &why), true) << why;
  EXPECT_EQ(HostHas("host-has:/no/such/brood/path", &why), false) << why;
  EXPECT_EQ(HostHas("int80", &why), std::nullopt);
}

}  // namespace
}  // namespace brood::testing
