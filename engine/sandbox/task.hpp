// One task, started by a zygote in two steps. Ahead of demand, the zygote parks the task's init:
// it clones it with fresh pid, mount, ipc and uts namespaces, and init sets its hostname, mounts
// a fresh /proc and /dev/pts, and waits for its task (ParkInit). When a task comes, the zygote
// hands the parked init the task's spec and fds (HandOver); init mounts the workspace, forks the
// task's main process, reaps everything, and reports on the report pipe. When the main process
// exits, init exits and the kernel kills whatever is left in the pid namespace.
//
// The main process, in order: own session, rlimits, sandbox uid/gid (no supplementary groups),
// the job's files written as that user, cwd, all capabilities dropped, no_new_privs, every fd
// but 0/1/2 closed on exec, Landlock, seccomp, execve: brood's own code never runs under the
// task's filter. A failure before execve (a parked init's own included) is reported as
// {kSetupError, stage, errno}; the task never runs with a step missing.
#pragma once

#include <sys/types.h>

#include <span>

#include "sandbox/seccomp.hpp"
#include "sandbox/task_spec.hpp"
#include "sys/fd.hpp"
#include "sys/status.hpp"

namespace brood::sandbox {

struct TaskFds {
  // Borrowed: the zygote owns them until the task's init has them.
  sys::BorrowedFd stdin_fd = -1;  // -1: /dev/null
  sys::BorrowedFd stdout_fd = -1;
  sys::BorrowedFd stderr_fd = -1;
  sys::BorrowedFd report_fd = -1;
  sys::BorrowedFd collect_fd = -1;  // a memfd for `collect` (-1: nothing to collect)
  // The task leaf of the slot's cgroup (cgroup/cgroup.hpp Group::Task), opened by root in the
  // hatchery; -1 without cgroups. v1: its cgroup.procs, which the main process writes "0" to;
  // v2 (`clone_into_cgroup`): the leaf's directory, for clone3(CLONE_INTO_CGROUP).
  sys::BorrowedFd task_cgroup = -1;
  // v1 only: the leaf's cgroup.procs in the pids and cpuacct hierarchies (-1 when absent), which
  // the main process writes "0" to right after `task_cgroup`.
  // A session command's leaf (cgroup::Leaf) has a fourth: the freezer's.
  sys::BorrowedFd task_procs_extra[3] = {-1, -1, -1};
  bool clone_into_cgroup = false;
  sys::BorrowedFd memory_stat = -1;  // the leaf's memory.stat, read by init when the task is over
  // A Landlock ruleset for ABI `landlock_abi` that the parked init built ahead (every rule but
  // the task's own directories'), or -1: the main process then builds the whole of it.
  sys::BorrowedFd landlock_ruleset = -1;
  int landlock_abi = 0;
  // A session's init (TaskSpec::session): the socket its commands and file requests come on
  // (sandbox/session_init.hpp).
  sys::BorrowedFd session_sock = -1;
};

// A parked init, as its zygote holds it. Dropping it closes `sock`: a parked init that never got
// its task then exits (it holds no CPU and no task's resources while it waits).
struct ParkedInit {
  sys::UniqueFd pidfd;  // of the init (pid 1 of its namespace)
  pid_t pid = -1;
  sys::UniqueFd sock;  // the zygote's end of the init's socket
};

// Once, in the hatchery: every signal to its default action and none blocked (the supervisor
// may have changed both). Tasks then only undo what the hatchery itself ignores.
void ResetAllSignals();
// Once per zygote: an empty capability bounding set, inherited by every task it starts.
int DropBoundingSet();

// Called in the (single-threaded) zygote: clones and parks a task's init. Of `slot`, only the
// slot's fds are used (task_cgroup, clone_into_cgroup, memory_stat and the leaf fds beside it),
// which the init keeps; it closes every other fd of the zygote's (its socket to the supervisor,
// the fds of a RUN request the zygote holds). The task's own fds come with HandOver.
sys::StatusOr<ParkedInit> ParkInit(const TaskFds& slot, const SeccompProgram& seccomp);

// In a parker (engine/zygote/parker.hpp), single-threaded: clones an init that shares the
// caller's memory (CLONE_VM | CLONE_VFORK: no page tables copied, none torn down at its exit)
// with fresh pid, mount, ipc and uts namespaces, on `stack`. The init first sends on
// `parker_sock` one message: "I" with its socket and its pidfd (a ParkedInit's), or an int
// errno; then it parks as ParkInit's does. Returns once that init is gone (the caller ignores
// SIGCHLD: the kernel reaps it): 0 when it ended as it should, kInitExitRetire when its main
// process died before execve, -1 when it was killed or failed (either may have left the shared
// heap midway through a change), or -errno when it could not be cloned.
int CloneSharedInit(int parker_sock, const TaskFds& slot, const SeccompProgram& seccomp,
                    void* stack, size_t stack_size);
constexpr int kInitExitRetire = 3;
// Written by an init just before it exits as it should (RunParked, a session's end): its exit
// status. An init sharing its parker's memory leaves it there for CloneSharedInit.
extern int g_init_exit_status;

// What a parked init runs (ParkInit's, CloneSharedInit's): the steps every task's init takes
// before its task exists, then the wait on `sock` for HandOver, then the task. Never returns.
[[noreturn]] void RunParked(int sock, const TaskFds& slot, const SeccompProgram& seccomp);

// Closes every fd but those of `keep` (post-fork: no allocation; -1 entries are ignored).
void CloseAllBut(std::span<const int> keep);
// Closes every fd but stdio, `sock` and the slot's fds of `slot` (task_cgroup, the leaf fds beside
// it, memory_stat): what a parked init and a parker keep of the zygote's.
void KeepSlotFds(int sock, const TaskFds& slot);
// A raw clone with fork semantics (the caller is single-threaded) into `ns_flags` namespaces,
// born with the name `name`, so that no one looking at the processes (ps, the tests' leak
// checks) ever sees a second process of the caller's name. Returns as clone does (pid, 0 in the
// child, -1 with errno); `*pidfd` gets the child's pidfd (FD_CLOEXEC).
long CloneNamed(const char* name, unsigned long ns_flags, int* pidfd);

// Hands a parked init its task: `spec_fd`, a memfd of the encoded TaskSpec (read from its
// start), and the task's stdin (-1: /dev/null), stdout, stderr, report and collect fds of
// `task`. The fds stay owned by the caller. Returns 0 or an errno value (EPIPE, ECONNREFUSED:
// the init is gone; park another). The init closes its end of `init.sock` once the task's main
// process is started (its execve done): the time for the zygote to park the next one.
int HandOver(const ParkedInit& init, int spec_fd, const TaskFds& task);

}  // namespace brood::sandbox
