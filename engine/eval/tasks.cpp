#include "eval/tasks.hpp"

namespace brood::eval {
namespace {}  // namespace

std::string LiteralPattern(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == '*' || c == '?' || c == '[' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

namespace {

// The first kTestStreamHead bytes of `s`, not cutting a UTF-8 character in two (a record shows
// text as text, and a cut character would make it base64).
std::string Head(const std::string& s) {
  if (s.size() <= kTestStreamHead) return s;
  size_t end = kTestStreamHead;
  // Back over continuation bytes (10xxxxxx) to the start of the character the cut falls in, at
  // most 3: a longer run is not UTF-8 anyway.
  for (int i = 0; i < 3 && end > 0 && (static_cast<unsigned char>(s[end]) & 0xc0) == 0x80; ++i)
    --end;
  if ((static_cast<unsigned char>(s[end]) & 0xc0) != 0x80) return s.substr(0, end);
  return s.substr(0, kTestStreamHead);
}

Job Base(const Job& job, const std::string& suffix) {
  Job t;
  t.id = job.id + "#" + suffix;
  t.cwd = job.cwd;
  t.network = job.network;
  t.root = job.root;
  return t;
}

}  // namespace

Job BuildJob(const Job& job, const std::string& suffix, const Program& sources,
             const std::vector<std::string>& argv, const Limits& limits) {
  Job b = Base(job, suffix);
  b.argv = argv;
  b.env = sources.env;
  b.files = sources.files;
  b.limits = limits;
  b.snapshot = true;
  return b;
}

Job TestJob(const Job& job, const Program& program, const TestCase& test) {
  Job t = Base(job, "test:" + test.id);
  t.argv = program.argv;
  t.argv.insert(t.argv.end(), test.args.begin(), test.args.end());
  t.env = program.env;
  t.files = program.files;
  for (const auto& [path, content] : test.files) t.files.insert_or_assign(path, content);
  t.stdin_data = test.stdin_data;
  t.limits = test.limits.Over(job.limits);
  t.collect = job.collect;  // returned with the deciding test's result
  if (test.expect)
    for (const auto& [path, content] : test.expect->files)
      t.collect.push_back(LiteralPattern(path));
  return t;
}

Job CheckerJob(const Job& job, const TestCase& test, const Program& checker, const Limits& limits,
               const Result& run) {
  Job c = Base(job, "checker:" + test.id);
  c.argv = checker.argv;
  for (const char* f : {kCheckerInput, kCheckerOutput, kCheckerAnswer})
    c.argv.push_back(std::string("/workspace/") + f);
  c.env = checker.env;
  c.files = checker.files;
  c.files.insert_or_assign(kCheckerInput, test.stdin_data);
  c.files.insert_or_assign(kCheckerOutput, run.stdout_data);
  c.files.insert_or_assign(kCheckerAnswer,
                           test.expect ? test.expect->stdout_text.value_or("") : std::string());
  c.cwd = "/workspace";
  c.network = Network::kNone;  // a checker never needs the network the task may have had
  c.limits = limits;
  return c;
}

BuildResult BuildRecord(const Result& r) {
  BuildResult b;
  b.status = r.status;
  b.exit_code = r.exit_code;
  b.signal = r.signal;
  b.stdout_data = r.stdout_data;
  b.stderr_data = r.stderr_data;
  b.stdout_truncated = r.stdout_truncated;
  b.stderr_truncated = r.stderr_truncated;
  b.wall_ms = r.wall_ms;
  b.cpu_ms = r.cpu_ms;
  b.peak_memory_bytes = r.peak_memory_bytes;
  b.error = r.error;
  return b;
}

TestResult TestRecord(const std::string& id, const Result& r, Verdict verdict) {
  TestResult t;
  t.id = id;
  t.status = r.status;
  t.verdict = verdict;
  t.exit_code = r.exit_code;
  t.signal = r.signal;
  t.wall_ms = r.wall_ms;
  t.cpu_ms = r.cpu_ms;
  t.peak_memory_bytes = r.peak_memory_bytes;
  t.stdout_bytes = r.stdout_bytes;
  t.stderr_bytes = r.stderr_bytes;
  t.stdout_head = Head(r.stdout_data);
  t.stderr_head = Head(r.stderr_data);
  t.error = r.error;
  return t;
}

}  // namespace brood::eval
