// A session's init: pid 1 of a session's namespaces, living between its commands. It starts as
// any task's init does (a parked init handed a spec, here with TaskSpec::session set, and a
// socket: TaskFds::session_sock), mounts the workspace, writes the session's files as the
// sandbox user and reports kSessionReady. Then it serves requests on the socket, one at a time:
//
//  - kExec: starts a command as a task's main process (RunMain: the same ids, rlimits,
//    capabilities, no_new_privs, Landlock, seccomp), joined to the command's own cgroup leaf
//    (cgroup::Leaf) whose fds come with the request, and reports kExeced and kExited on the
//    command's report pipe. One command at a time (EBUSY). What a command leaves running is
//    reparented to this init, which reaps it whenever it exits.
//  - kRead, kWrite: a file below /workspace, by a child with the sandbox user's ids and no
//    capabilities (sandbox/workspace_files.hpp: openat2 beneath, regular files only).
//  - kStat: bytes used in the workspace since the session began.
//  - kDrain: the read ends of an ended command's stdout and stderr, which processes it left
//    running may still write to: the init reads and drops what comes until they close them, at
//    most kMaxDrains at once (the oldest is closed beyond: its writers get EPIPE). The init's
//    CPU is the session's (its group's CPU bandwidth), not brood's.
//
// When the socket closes (the session's end), it kills every process of its namespace and exits.
// Every request gets one SessionReply (its `err` an errno value).
#pragma once

#include <cstdint>

#include "sandbox/seccomp.hpp"
#include "sandbox/task.hpp"
#include "sandbox/task_spec.hpp"

namespace brood::sandbox {

enum class SessionOp : uint32_t { kExec = 1, kRead = 2, kWrite = 3, kStat = 4, kDrain = 5 };

constexpr uint32_t kSessionMagic = 0x73657373;  // "sess"
constexpr size_t kSessionPathMax = 4096;
constexpr size_t kMaxDrains = 64;

// One request; its fds: kExec: the command's spec (a memfd), stdout, stderr, report, [stdin],
// then `leaf_fds` of its cgroup leaf (LeafJoin: v1 the cgroup.procs files, the memory leaf's
// first; v2 the directory, `clone_into`); kRead: the memfd the file goes to; kWrite: the memfd
// it comes from; kDrain: one or two pipes' read ends.
struct SessionRequest {
  uint32_t magic = kSessionMagic;
  SessionOp op = SessionOp::kStat;
  uint32_t has_stdin = 0;
  uint32_t leaf_fds = 0;
  uint32_t clone_into = 0;
  uint64_t max_bytes = 0;               // kRead, kWrite
  char path[kSessionPathMax + 1] = {};  // kRead, kWrite: relative to /workspace, NUL-terminated
};

struct SessionReply {
  uint32_t magic = kSessionMagic;
  int32_t err = 0;     // 0 or an errno value
  uint64_t value = 0;  // kStat: bytes used in the workspace
};

// Called by a parked init handed a session's spec: never returns.
[[noreturn]] void RunSessionInit(const TaskSpec& spec, const TaskFds& fds,
                                 const SeccompProgram& seccomp, int handed);

}  // namespace brood::sandbox
