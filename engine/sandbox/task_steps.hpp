// The steps a task's init and main process take (task.cpp), shared with a session's init
// (session_init.cpp), which takes them once per session and per command. Post-fork code: no
// allocation but where noted, no exceptions; errors are errno values or a report.
#pragma once

#include <sys/types.h>

#include "sandbox/seccomp.hpp"
#include "sandbox/task.hpp"
#include "sandbox/task_spec.hpp"

namespace brood::sandbox {

void SendReport(int fd, const Report& r);
// Reports {kSetupError, stage, err} on `report_fd` and exits 126.
[[noreturn]] void Fail(int report_fd, Stage stage, int err);
// The spec's files below /workspace, as the calling user (the sandbox user's ids already).
int WriteFiles(const TaskSpec& spec);
// Every capability of the process gone (the bounding set emptied by the zygote).
int DropCapabilities();
// The main process: cgroup, session, stdio, rlimits, ids, files, cwd, capabilities,
// no_new_privs, Landlock, seccomp, execve. `listener_sock`: where the seccomp listener goes
// (kKill, kLog), or -1.
[[noreturn]] void RunMain(const TaskSpec& spec, const TaskFds& fds, const SeccompProgram& seccomp,
                          int listener_sock);
// Starts the main process (RunMain) as init's child: see task.cpp. Returns its pid, 0 in a
// forked child (which then calls RunMain itself), or -1 with errno.
pid_t ForkMain(const TaskSpec& spec, const TaskFds& fds, const SeccompProgram& seccomp,
               int listener_sock);
// Mounts /workspace, /tmp and /dev/shm (the workspace disk held on /tmp, or a tmpfs of
// spec.disk_mb); returns an fd of the disk's root (-1 without a disk). Fails through the report.
int MountWorkspace(const TaskSpec& spec, int report_fd);
// Adds the rules of the task's own directories to the ruleset the parked init built (or drops
// it when its ABI is not the spec's). Fails through the report.
void ExtendLandlock(const TaskSpec& spec, TaskFds* fds, int report_fd);

}  // namespace brood::sandbox
