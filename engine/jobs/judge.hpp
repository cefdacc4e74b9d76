// `expect` judging (docs/result.md): passed when the status is ok, stdout was not truncated, and it
// matches: exact byte for byte; trim after removing trailing whitespace of each line and
// trailing empty lines; tokens the same whitespace-separated tokens.
#pragma once

#include <string_view>

#include "brood/job.hpp"
#include "brood/result.hpp"

namespace brood::jobs {

bool Matches(const Expect& expect, std::string_view stdout_text);
// Sets result.passed when job.expect is given.
void Judge(const Job& job, Result& result);

}  // namespace brood::jobs
