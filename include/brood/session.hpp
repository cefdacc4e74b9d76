// Sessions: one sandbox that lives between commands, for a client that works in it step by step
// (clone, install, edit, test, edit again). A session has every isolation of a task (user, pid,
// mount, network, ipc and uts namespaces, seccomp, Landlock, no capabilities, the read-only
// root, a workspace of its own) and keeps its workspace and its background processes from one
// command to the next.
//
//   brood::SessionOptions so;
//   so.limits.memory_mb = 1024;
//   brood::SessionError err;
//   auto s = engine->CreateSession(so, &err);       // blocks ~10-30 ms: a zygote, a disk
//   s->WriteFile("main.py", "print(1)\n");
//   brood::Result r = s->Exec({.argv = {"python3", "main.py"}});
//   s->Close();
//
// Limits. The session's `limits.memory_mb`, `pids`, `cpus` and `disk_mb` hold for all of its
// processes together, for its whole life. `wall_ms`, `cpu_ms` and `output_bytes` are each
// command's defaults: a command past its wall or CPU limit is ended with everything it started
// (each command runs in a cgroup of its own below the session's, so setsid, double forks and
// daemons end too); the session lives on. A session whose processes together hit memory_mb (an
// OOM kill) or pids (a refused fork) ends, with that reason (a command running then is killed
// within 250 ms: memory_limit, or signaled with "pids" in limits_hit); a full disk does not end
// it (the command sees ENOSPC).
//
// Threads: every method is thread-safe. Exec and the file calls of one session are serialized
// by the caller's contract (one command at a time: a second Start while one runs is refused).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "brood/error.hpp"
#include "brood/job.hpp"
#include "brood/limits.hpp"
#include "brood/result.hpp"

namespace brood {

struct SessionOptions {
  // The session's: memory_mb, pids, cpus and disk_mb over all its processes together; wall_ms,
  // cpu_ms and output_bytes: each command's defaults (cpu_ms 0: = wall_ms).
  Limits limits;
  Network network = Network::kNone;
  std::string root;                          // a name of EngineOptions::roots; "": the default
  std::map<std::string, std::string> env;    // every command's, below its own
  std::map<std::string, std::string> files;  // written into /workspace at creation
};

// One command of a session.
struct ExecOptions {
  std::vector<std::string> argv;           // the command; PATH of its environment is searched
  std::string stdin_data;                  // empty: /dev/null
  std::map<std::string, std::string> env;  // on top of the session's
  std::string cwd = "/workspace";
  // 0: the session's defaults. The session's memory, pids and disk limits hold regardless.
  int64_t wall_ms = 0, cpu_ms = 0, output_bytes = 0;
};

// Live figures of a session's processes together.
struct SessionUsage {
  uint64_t memory_bytes = 0;       // now
  uint64_t peak_memory_bytes = 0;  // since the session began
  double cpu_ms = 0;               // since the session began, every command's and daemon's
  uint64_t pids = 0;               // processes and threads now
  uint64_t disk_bytes = 0;         // used in the workspace (/workspace, /tmp, /dev/shm)
};

// Why a call failed. kind: kInvalidArgument (a malformed path, command or limit), kUnavailable
// (a command is running: one at a time), kResourceExhausted (too many sessions; a file over the
// cap; the disk is full), kCancelled (the session has ended: `ended_reason` says why),
// kHostUnsupported, kInternal. `not_found`: a file that does not exist.
struct SessionError {
  ErrorKind kind = ErrorKind::kInternal;
  std::string message;
  bool not_found = false;
  int errno_value = 0;  // the file call's errno (ENOSPC: the disk is full; EFBIG: over the cap)
};

// Why a session ended: "closed" (Close), "memory", "pids" (its limits), "sandbox_error" (its
// init died or misbehaved), or what the caller passed to Close ("idle", "ttl", "deleted").
class Session {
 public:
  // Closes it (see Close) and waits until everything of it is gone.
  virtual ~Session() = default;

  // Starts one command; on_result is called exactly once, on an engine thread, with its result
  // record (id ""; status, exit code, stdout/stderr and their truncation, wall, CPU and peak
  // memory are the command's own). A process the command leaves running goes on; what it writes
  // after the command's main process exited is discarded. Returns false and sets *error when
  // the command cannot start (another is running: kUnavailable; the session ended: kCancelled;
  // bad options: kInvalidArgument); on_result is then never called. on_result may Start the next
  // command (it begins once on_result returns); it must not Close or destroy the session, since
  // Close waits until the running command's result has been given.
  virtual bool Start(ExecOptions exec, std::function<void(Result)> on_result,
                     SessionError* error) = 0;
  // Ends the running command, if any, with everything it started (its result: a sandbox_error
  // with "error_kind": "cancelled"); the session lives on. For a client that went away.
  virtual void CancelExec() = 0;
  // Start, then waits for the result. Blocks.
  Result Exec(ExecOptions exec);

  // A file below /workspace: `path` is relative ("src/main.py"), without "..", "." or empty
  // components, and reaches only regular files: never through a symlink, never a FIFO, device
  // or directory (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, O_NONBLOCK), read and written as
  // the sandbox user (so a file the session made read-only cannot be written). WriteFile makes
  // missing parent directories and replaces what was there (a same-size replacement within the
  // old file's whole second of mtime gets the next second, so that Python's __pycache__ sees the
  // edit: docs/sessions.md#files). Block for a round trip to the
  // session (~1 ms). `max_bytes` caps ReadFile (a larger file: kResourceExhausted).
  virtual bool WriteFile(const std::string& path, const std::string& bytes,
                         SessionError* error) = 0;
  virtual bool ReadFile(const std::string& path, uint64_t max_bytes, std::string* bytes,
                        SessionError* error) = 0;

  virtual SessionUsage Usage() = 0;
  // "" while the session runs; else why it ended (see above). Looks at the session's processes
  // first (one of them may have hit the memory or pids limit since the last call): blocks a
  // little, and longer when that ends the session.
  virtual std::string EndedReason() = 0;
  // Why the session ended as last seen, by any call or at a command's end, without looking again:
  // never blocks. When a command's on_result is called its end has been looked at (a command
  // that hit the session's memory or pids limit has ended it by then).
  virtual std::string EndedReasonSeen() = 0;
  // Ends the session: a running command gets a cancelled result, every process dies, and its
  // mounts, cgroups and files are gone when Close returns. Later calls fail with kCancelled.
  // `reason` is what EndedReason says afterwards (unless the session had ended already).
  virtual void Close(const std::string& reason = "closed") = 0;
};

}  // namespace brood
