// What a zygote needs to start one task, and the reports the task's init sends back.
// The supervisor encodes a TaskSpec into a sealed memfd; the zygote decodes it (untrusted bytes
// as far as the decoder is concerned) and its clone, the task's init, acts on it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace brood::sandbox {

// Inside the sandbox the task runs as this user and group; the host ids are mapped per zygote.
constexpr unsigned kSandboxUid = 1000;
constexpr unsigned kSandboxGid = 1000;

struct TaskSpec {
  std::vector<std::string> argv;
  std::vector<std::string> envp;  // "K=V", complete (defaults already applied)
  std::string cwd = "/workspace";
  std::map<std::string, std::string> files;  // relative path -> bytes, written as the sandbox user
  std::vector<std::string> collect;          // workspace globs returned after the task
  bool snapshot = false;   // return every regular file of the workspace (an evaluation's build)
  bool has_stdin = false;  // else the task's stdin is /dev/null
  int64_t disk_mb = 256;   // the tmpfs for /workspace, /tmp and /dev/shm
  uint64_t disk_inodes = 4096;
  // The zygote holds the slot's workspace disk on /tmp (workspace/disk.hpp): init binds its
  // w, t and s and empties them afterwards, instead of mounting a tmpfs of disk_mb.
  bool workspace_disk = false;
  int landlock_abi = 0;      // the main process applies Landlock for this ABI (0: none)
  int64_t memory_mb = 512;   // for rlimit mode
  int64_t cpu_ms = 10000;    // for rlimit mode (RLIMIT_CPU)
  int64_t pids = 128;        // for rlimit mode (RLIMIT_NPROC)
  bool rlimit_mode = false;  // no cgroup: rlimits stand in for memory/pids/cpu
  // A session's init (sandbox/session_init.hpp): argv is empty, `files` are written at its start,
  // and commands come later, each with a spec of its own (session false).
  bool session = false;
};

std::string EncodeTaskSpec(const TaskSpec& spec);
// Returns nullopt for malformed input.
std::optional<TaskSpec> DecodeTaskSpec(std::string_view bytes);

// Fixed-size records on the report pipe, each written whole by one write(2) (a pipe keeps writes
// of up to PIPE_BUF bytes whole); a reader may get several, or part of one, per read.
// kCleaned follows kExited once init has emptied the workspace disk (never without a disk).
// kSessionReady: a session's init has its workspace and files (on its creation's report pipe).
enum class ReportKind : uint32_t {
  kSetupError = 1,
  kExeced = 2,
  kExited = 3,
  kCleaned = 4,
  kSessionReady = 5
};

// Where the setup failed; printed as a name in the sandbox_error message.
enum class Stage : int32_t {
  kNone = 0,
  kHostname,
  kMountProc,
  kMountWorkspace,
  kMountDevpts,
  kFork,
  kSession,
  kRlimits,
  kSetIds,
  kFiles,
  kChdir,
  kCaps,
  kNoNewPrivs,
  kSeccomp,
  kStdio,
  kCgroup,
  kLandlock,
  kSpec,  // a parked init reading its task's spec
};
const char* StageName(Stage s);

struct Report {
  ReportKind kind;
  Stage stage;              // kSetupError
  int32_t err;              // kSetupError: errno
  int32_t wait_status;      // kExited: of the task's main process
  int64_t time_ns;          // kExeced: CLOCK_MONOTONIC just before execve; kExited: at reaping
  int64_t cpu_us;           // kExited: rusage of the main process and its reaped children
  int64_t maxrss_kb;        // kExited
  uint32_t disk_full;       // kExited: the workspace had no free block or inode left
  uint32_t denied_foreign;  // kExited: a denied call of another architecture (kKill, kLog)
  // kExited: file pages (active and inactive, clean or dirty) the task's memory cgroup held
  // once its processes were gone: cache the kernel could have reclaimed; -1 unknown.
  int64_t file_bytes;
  // kExited: the x86_64 numbers of the calls the seccomp listener saw (kKill, kLog), a bitmap.
  uint64_t denied[8];
};

}  // namespace brood::sandbox
