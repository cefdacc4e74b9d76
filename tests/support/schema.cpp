#include "support/schema.hpp"

#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>

#include "sys/fd.hpp"

#ifndef BROOD_SCHEMA_DIR
#error "BROOD_SCHEMA_DIR must name the directory that holds result.schema.json and job.schema.json"
#endif

extern char** environ;

namespace brood::testing {
namespace {

constexpr char kPython[] = "/usr/bin/python3";
constexpr char kInstallHint[] = "apt-get install python3-jsonschema";

// The validator's side. It first says "ready" (or why it cannot be), then answers each request
// "<R|J|S> <length>[ <schema>]\n<length bytes of JSON>" with one line: "ok", or "/json/path:
// problem; ...". S names a schema below the schema dir ("serve/session.schema.json"), loaded on
// first use. A length prefix rather than a line keeps the record byte for byte, newlines and all.
constexpr char kScript[] = R"PY(
import json, pathlib, sys, urllib.parse
sys.stdout.reconfigure(encoding="utf-8", errors="backslashreplace")
try:
    from jsonschema import Draft202012Validator
except Exception as e:
    print("cannot import jsonschema.Draft202012Validator (%s)" % e, flush=True)
    sys.exit(0)

def load(path):
    with open(path, encoding="utf-8") as f:
        schema = json.load(f)
    # jsonschema 4.10 (Debian 12) resolves a relative $id twice ("brood/brood/job.schema.json");
    # resolve it once, against the file's URI, as the spec says.
    if "$id" in schema:
        schema["$id"] = urllib.parse.urljoin(pathlib.Path(path).resolve().as_uri(), schema["$id"])
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)

try:
    validators = {"R": load(sys.argv[1]), "J": load(sys.argv[2])}
    schema_dir = pathlib.Path(sys.argv[1]).parent
except Exception as e:
    print("bad schema: %s" % str(e).replace("\n", " ")[:2000], flush=True)
    sys.exit(0)

def unique_keys(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError("duplicate key %r" % key)
        obj[key] = value
    return obj

def no_constant(name):
    raise ValueError("%s is not JSON" % name)

def check(kind, data):
    try:
        doc = json.loads(data, object_pairs_hook=unique_keys, parse_constant=no_constant)
    except ValueError as e:
        return "not JSON: %s" % e
    problems = []
    for e in validators[kind].iter_errors(doc):
        message = e.message if len(e.message) <= 300 else e.message[:300] + "..."
        problems.append("/%s: %s" % ("/".join(str(p) for p in e.absolute_path), message))
    return "; ".join(sorted(problems)) or "ok"

print("ready", flush=True)
requests = sys.stdin.buffer
while True:
    header = requests.readline()
    if not header:
        break
    kind, length, *schema = header.decode().split()
    data = requests.read(int(length))
    if kind == "S":
        kind = schema[0]
        if kind not in validators:
            try:
                validators[kind] = load(str(schema_dir / kind))
            except Exception as e:
                validators[kind] = "bad schema %s: %s" % (kind, str(e).replace("\n", " ")[:2000])
    reply = validators[kind] if isinstance(validators[kind], str) else check(kind, data)
    sys.stdout.write(reply.replace("\\", "\\\\").replace("\n", "\\n") + "\n")
    sys.stdout.flush()
)PY";

struct Verdict {
  bool ok;
  std::string message;
};

// Owns the python3 child and the socket to it. Everything under one mutex: records are checked
// one at a time, which is all a test needs.
class Validator {
 public:
  ~Validator() {
    if (owner_ == getpid()) Stop();  // a forked child leaves the parent's validator alone
  }

  Verdict Check(char kind, const std::string& json, const std::string& schema = "") {
    std::lock_guard lock(mu_);
    if (owner_ != getpid()) Forget();  // forked: the child and socket belong to the parent
    if (!unavailable_.empty()) return {false, unavailable_};
    if (!sock_.valid()) {
      if (Verdict started = Start(); !started.ok) return started;
    }
    std::string request = std::string(1, kind) + " " + std::to_string(json.size()) +
                          (schema.empty() ? "" : " " + schema) + "\n" + json;
    std::string reply;
    // Once more with a new validator if it died: on cgroup v2 it may have been started inside an
    // engine's tree (the process's own leaf is there), which dies with that engine.
    for (int attempt = 0; !SendAll(request) || !ReadLine(&reply); ++attempt) {
      Stop();
      if (attempt == 1) return {false, "schema validator (python3) died; see its stderr above"};
      if (Verdict started = Start(); !started.ok) return started;
      reply.clear();
    }
    if (reply == "ok") return {true, ""};
    return {false, Unescape(reply)};
  }

 private:
  Verdict Start() {
    const std::string dir = BROOD_SCHEMA_DIR;
    const std::string result_schema = dir + "/result.schema.json";
    const std::string job_schema = dir + "/job.schema.json";
    if (access(kPython, X_OK) != 0) {
      unavailable_ = std::string("schema validation needs ") + kPython +
                     " and python3-jsonschema: " + kInstallHint;
      return {false, unavailable_};
    }
    for (const std::string& path : {result_schema, job_schema}) {
      if (access(path.c_str(), R_OK) != 0) {
        unavailable_ = "cannot read " + path + ": " + strerror(errno);
        return {false, unavailable_};
      }
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      return {false, std::string("socketpair: ") + strerror(errno)};
    }
    sys::UniqueFd ours(sv[0]), theirs(sv[1]);
    // posix_spawn, not fork: test binaries may already run threads.
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, theirs.get(), STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, theirs.get(), STDOUT_FILENO);
    const char* argv[] = {kPython, "-I", "-c", kScript, result_schema.c_str(), job_schema.c_str(),
                          nullptr};
    pid_t pid;
    int err =
        posix_spawn(&pid, kPython, &actions, nullptr, const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (err != 0) return {false, std::string("posix_spawn(") + kPython + "): " + strerror(err)};
    sock_ = std::move(ours);
    pid_ = pid;
    owner_ = getpid();
    std::string hello;
    if (!ReadLine(&hello)) {
      Stop();
      unavailable_ = std::string(kPython) + " exited before the schema validator was ready";
      return {false, unavailable_};
    }
    if (hello != "ready") {
      Stop();
      unavailable_ = "schema validator unavailable: " + hello;
      if (hello.starts_with("cannot import")) unavailable_ += std::string(": ") + kInstallHint;
      return {false, unavailable_};
    }
    return {true, ""};
  }

  void Stop() {
    sock_.reset();  // python3 reads EOF and exits
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
    pid_ = -1;
    buffer_.clear();
  }

  // After fork: drop the parent's socket and child without touching them.
  void Forget() {
    sock_.reset();
    pid_ = -1;
    buffer_.clear();
    owner_ = getpid();
  }

  bool SendAll(const std::string& data) {
    for (size_t done = 0; done < data.size();) {
      ssize_t n = send(sock_.get(), data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  bool ReadLine(std::string* line) {
    for (;;) {
      if (size_t end = buffer_.find('\n'); end != std::string::npos) {
        line->assign(buffer_, 0, end);
        buffer_.erase(0, end + 1);
        return true;
      }
      char chunk[4096];
      ssize_t n = read(sock_.get(), chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  static std::string Unescape(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); i++) {
      if (s[i] == '\\' && i + 1 < s.size()) {
        out += s[i + 1] == 'n' ? '\n' : s[i + 1];
        i++;
      } else {
        out += s[i];
      }
    }
    return out;
  }

  std::mutex mu_;
  sys::UniqueFd sock_;
  pid_t pid_ = -1;
  pid_t owner_ = getpid();
  std::string buffer_;       // bytes read past the last reply line
  std::string unavailable_;  // set once python3, jsonschema or a schema is missing: no retries
};

Validator& Instance() {
  static Validator validator;
  return validator;
}

::testing::AssertionResult Validate(char kind, const std::string& schema, const std::string& json) {
  Verdict verdict = Instance().Check(kind, json, kind == 'S' ? schema : "");
  if (verdict.ok) return ::testing::AssertionSuccess();
  constexpr size_t kShown = 2000;
  return ::testing::AssertionFailure()
         << "not a valid " << schema << " record: " << verdict.message
         << "\n  record: " << json.substr(0, kShown) << (json.size() > kShown ? "..." : "");
}

}  // namespace

::testing::AssertionResult ValidResult(const std::string& json_line) {
  return Validate('R', "result.schema.json", json_line);
}

::testing::AssertionResult ValidJob(const std::string& json_line) {
  return Validate('J', "job.schema.json", json_line);
}

::testing::AssertionResult ValidAgainst(const std::string& schema, const std::string& json) {
  return Validate('S', schema, json);
}

}  // namespace brood::testing
