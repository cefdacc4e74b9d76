// One line of a job file on its way through `brood run`'s flow graph.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "brood/result.hpp"
#include "jobs/job_parser.hpp"
#include "jobs/line_reader.hpp"

namespace brood::run {

struct Work {
  // kResult: a record without a run (invalid_job). kSkip: no record is due (a blank line, or one
  // the sink already holds). kStopped: stopped before it ran: no record, and a later run does it.
  enum Kind { kRun, kResult, kSkip, kStopped };
  uint64_t seq = 0;  // 0-based input order (every line gets one, for --ordered)
  jobs::Line line;
  jobs::ParsedJob parsed;
  Kind kind = kSkip;
  bool not_started = false;  // a stop came before the engine took it
  Result result;
  std::string json;  // the serialized record
};
using WorkPtr = std::shared_ptr<Work>;

}  // namespace brood::run
