// A zygote: a small process in its own user namespace (and network namespace unless the
// network is "host"), with its root built and pivoted and its cgroup joined, waiting on a
// SOCK_SEQPACKET socket for tasks. Chromium's zygote request loop, one request kind per handler.
//
// Life cycle and invariants:
//  - Made by the hatchery (never by the multi-threaded supervisor). Until its uid/gid maps are
//    written it waits; then it builds its root and says "ready" (or the error, then exits).
//  - It runs one task at a time: a RUN request carries the task spec (a memfd) and the task's
//    stdio and report fds; the zygote hands them to the init it parked for the next task
//    (sandbox/task.hpp ParkInit), answers with that init's pidfd, and then parks another.
//    Everything the task can change dies with init's namespaces.
//  - It exits when its socket closes, after its parked init is gone (so nothing of it outlives
//    the zygote), and with SIGKILL when the hatchery dies (its parked init then dies of its
//    parent-death signal).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "sandbox/seccomp.hpp"
#include "sandbox/task_spec.hpp"
#include "sys/fd.hpp"
#include "sys/process.hpp"
#include "sys/status.hpp"

namespace brood::zygote {

struct ZygoteConfig {
  bool network_none = true;
  std::string system_root = "/";
  uint32_t host_uid = 0;  // what the sandbox user (1000 inside) is on the host
  uint32_t host_gid = 0;
  std::vector<std::string> cgroup_procs;  // cgroup.procs files to join before building the root
  // The slot's task leaf (cgroup/cgroup.hpp Group::Task), opened by the hatchery for the
  // zygote's tasks: "" without cgroups.
  std::string task_cgroup;  // v1: its cgroup.procs; v2 (task_clone_into): its directory
  // v1: the leaf's cgroup.procs in the pids and cpuacct hierarchies where they differ from the
  // memory one (at most 2); v2: none.
  std::vector<std::string> task_procs_extra;
  bool task_clone_into = false;
  std::string task_memory_stat;
};

// What the hatchery opened for a zygote (-1: nothing): see ZygoteConfig.
struct ZygoteFds {
  int task_cgroup = -1;
  int task_procs_extra[2] = {-1, -1};
  bool clone_into = false;
  int task_memory_stat = -1;
};

std::string EncodeZygoteConfig(const ZygoteConfig& c);
std::optional<ZygoteConfig> DecodeZygoteConfig(std::string_view bytes);

// Messages on a zygote's socket.
enum class ZygoteMsg : uint32_t { kReady = 1, kRun = 2, kStarted = 3 };

// Supervisor side: a zygote's end of the socket and its pidfd.
struct ZygoteHandle {
  sys::UniqueFd sock;
  sys::Process process;    // killed when the handle goes
  uint64_t disk_id = 0;    // the workspace disk it holds on /tmp (workspace::Disk::id), 0: none
  int64_t kill_at_ns = 0;  // ending (Pool's `dying`): SIGKILLed if not gone by then (monotonic)
};

// Borrowed for the RUN request: the caller keeps them open until RunInZygote returns.
struct RunFds {
  sys::BorrowedFd spec_memfd, stdin_fd /* -1: /dev/null */, stdout_fd, stderr_fd, report_fd;
  sys::BorrowedFd collect_fd = -1;  // -1: nothing to collect
  // A detached mount of the slot's workspace disk, when the zygote does not hold it yet: it
  // replaces what the zygote had on its root's /tmp.
  sys::BorrowedFd workspace_mount = -1;
  // A session's init (its spec has TaskSpec::session): the socket its requests come on.
  sys::BorrowedFd session_sock = -1;
};
// Asks the zygote to start a task; returns the pidfd of the task's init.
sys::StatusOr<sys::UniqueFd> RunInZygote(const ZygoteHandle& z, const RunFds& fds);

// Zygote side: never returns. `sock` is the zygote's end; `joined` the pipe on which the
// hatchery writes 'c' once the zygote is in its cgroup (the root is built meanwhile).
[[noreturn]] void ZygoteMain(const ZygoteConfig& config, const ZygoteFds& fds, int sock, int joined,
                             const sandbox::SeccompProgram& seccomp);

}  // namespace brood::zygote
