// One task, started by a zygote. The zygote clones the task's init with fresh pid, mount, ipc
// and uts namespaces; init mounts what must be fresh (/proc, the workspace tmpfs, /dev/pts),
// forks the task's main process, reaps everything, and reports on the report pipe. When the
// main process exits, init exits and the kernel kills whatever is left in the pid namespace.
//
// The main process, in order: own session, rlimits, sandbox uid/gid (no supplementary groups),
// the job's files written as that user, cwd, all capabilities dropped, no_new_privs, every fd
// but 0/1/2 closed on exec, seccomp, execve. A failure before execve is reported as
// {kSetupError, stage, errno}; the task never runs with a step missing.
#pragma once

#include <sys/types.h>

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
  sys::BorrowedFd task_procs_extra[2] = {-1, -1};
  bool clone_into_cgroup = false;
  sys::BorrowedFd memory_stat = -1;  // the leaf's memory.stat, read by init when the task is over
};

struct StartedTask {
  sys::UniqueFd pidfd;  // of the task's init (pid 1 of its namespace)
  pid_t pid = -1;
};

// Once, in the hatchery: every signal to its default action and none blocked (the supervisor
// may have changed both). Tasks then only undo what the hatchery itself ignores.
void ResetAllSignals();
// Once per zygote: an empty capability bounding set, inherited by every task it starts.
int DropBoundingSet();

// Called in the (single-threaded) zygote. The fds stay owned by the caller.
sys::StatusOr<StartedTask> StartTask(const TaskSpec& spec, const TaskFds& fds,
                                     const SeccompProgram& seccomp);

}  // namespace brood::sandbox
