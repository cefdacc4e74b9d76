// One line of a job file (docs/job.md, schema/job.schema.json) into a Job, or into the
// reason it is an invalid job. Never throws; every malformed input has an error naming the field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "brood/job.hpp"
#include "brood/limits.hpp"
#include "jobs/strict_json.hpp"

namespace brood::jobs {

constexpr size_t kMaxJobLine = 64u << 20;  // a longer line is invalid_job

struct ParsedJob {
  std::optional<Job> job;  // set when the line is a valid job
  std::string error;       // set when it is not: "limits.memory_mb: expected a positive integer"
  std::optional<std::string> id;  // the id when it could be read (even for an invalid line)
};

// `line` without its trailing newline (a trailing '\r' is tolerated). Checks everything the
// schema says, plus limits against `maxima` (CheckLimits) and file paths (no absolute path, no
// "..", no empty component, no path that is both a file and a directory of another file).
// Duplicate ids are the caller's business (it sees every line).
ParsedJob ParseJobLine(std::string_view line, const LimitMaxima& maxima);

// One field of a job record but "id" ("cmd", "limits", ...) into `job`, by the job record's
// rules, its value moved out of the document: "" or the error naming the field; a name that is
// not a job field: "unknown field \"NAME\"". For requests made of job fields (brood serve's
// sessions); their own rules (cmd or shell, the maxima) are their caller's.
std::string ReadJobField(std::string_view name, Json& value, Job& job);

}  // namespace brood::jobs
