#include "run/admission.hpp"

#include "jobs/results_file.hpp"

namespace brood::run {

void Admission::Invalid(Work& w, std::string error) {
  w.kind = Work::kResult;
  if (keys_.Get(jobs::ResultKey("invalid_job", "", w.line.number)) & jobs::KeySet::kDone) {
    w.kind = Work::kSkip;
    return;
  }
  Result& r = w.result;
  r.status = TaskStatus::kInvalidJob;
  r.line = w.line.number;
  r.id_known = w.parsed.id.has_value();
  if (w.parsed.id) r.id = *w.parsed.id;
  r.error = std::move(error);
}

void Admission::Decide(Work& w) {
  if (w.line.too_long) return Invalid(w, "the line is longer than 64 MiB");
  if (w.line.text.find_first_not_of(" \t\r") == std::string::npos) {
    w.kind = Work::kSkip;  // blank lines (a trailing newline, say) are not jobs
    return;
  }
  if (!w.parsed.job) return Invalid(w, w.parsed.error);
  const std::string& id = w.parsed.job->id;
  const uint8_t before = keys_.Mark(id, jobs::KeySet::kSeen);
  if (before & jobs::KeySet::kSeen) return Invalid(w, "id: \"" + id + "\" is a duplicate");
  // Done: a record of its id, or an invalid_job of its line (the engine found the job invalid,
  // say a root it was not given: such a record carries the line, as the parser's do).
  const bool done =
      (before & jobs::KeySet::kDone) ||
      (keys_.Get(jobs::ResultKey("invalid_job", "", w.line.number)) & jobs::KeySet::kDone);
  w.kind = done ? Work::kSkip : Work::kRun;
}

}  // namespace brood::run
