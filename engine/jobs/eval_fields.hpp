// Readers of the evaluation fields of a job record (docs/eval.md): expect, build, tests, a
// checker, stop, group, language. Each returns "" or an error naming the field (with its place:
// "tests[2].expect.abs_tol: ..."). Used by job_parser.cpp.
#pragma once

#include <string>
#include <string_view>

#include "brood/job.hpp"
#include "jobs/strict_json.hpp"

namespace brood::jobs {

constexpr size_t kMaxTests = 10000;  // tests in one job

// `expect` over `base` (a test's expect starts from the job's).
std::string ReadExpectOver(Json& v, std::string_view field, Expect& expect);
std::string ReadLanguage(Json& v, Job& job);
std::string ReadStop(Json& v, Job& job);
std::string ReadGroup(Json& v, Job& job);
std::string ReadBuild(Json& v, Build& build);
// `tests`, each over the job's limits and expect.
std::string ReadTests(Json& v, const Job& job, std::vector<TestCase>& tests);

}  // namespace brood::jobs
