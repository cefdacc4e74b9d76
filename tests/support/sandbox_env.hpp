// Shared engine and probe helpers for the tests that run real sandboxes.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "brood/engine.hpp"

namespace brood::testing {

// One engine per option set and test binary, created on first use. Skips the calling test
// (GTEST_SKIP with the reason) when the host cannot sandbox at all.
Engine* SharedEngine(OnViolation on_violation = OnViolation::kErrno);
// Why SharedEngine returned null ("" when it did not).
const std::string& EngineError();

// An engine of its own with `slots` slots (rlimits in place of cgroups when not root), for tests
// that count zygotes or cancel: fails the test (and returns null) when it cannot be made.
std::unique_ptr<Engine> MakeEngine(int slots);
// The same with options of the test's own (allow_no_cgroups is set as above).
std::unique_ptr<Engine> MakeEngine(EngineOptions options);

// A job that runs the static probe (tests/helpers/probe.c) copied into /workspace.
Job ProbeJob(std::vector<std::string> args);
// A job that runs argv as is.
Job CmdJob(std::vector<std::string> argv);

// Runs and checks that the record is valid against the result schema.
Result RunChecked(Engine* engine, const Job& job);

// Task processes still alive: descendants of this process at depth 4 or more (this process ->
// the nest -> the hatchery -> zygotes, which live as long as the engine -> task inits -> tasks),
// but for the inits zygotes keep parked for their next task (comm "brood-parked") and the
// zygotes' parkers (comm "brood-parker", engine/zygote/parker.hpp).
std::vector<int> SandboxDescendants();

#define BROOD_ENGINE_OR_SKIP(var, ...)                                \
  ::brood::Engine* var = ::brood::testing::SharedEngine(__VA_ARGS__); \
  if (!var) GTEST_SKIP() << "host cannot sandbox: " << ::brood::testing::EngineError()

}  // namespace brood::testing
