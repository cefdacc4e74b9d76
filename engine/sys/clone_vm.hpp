// A child that shares its parent's memory until it calls execve or exits, as posix_spawn starts
// one (clone3 with CLONE_VM | CLONE_VFORK): no page tables are copied for execve to throw away.
// The parent is suspended meanwhile. For single-threaded callers (a task's init).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace brood::sys {

// Runs fn(arg) in the child, on `stack` (stack_size bytes, which the caller keeps until this
// returns); fn must end in execve or _exit and never return. The child writes the parent's
// memory (its heap, globals, errno): the parent must not depend on what it finds there
// afterwards. `cgroup_fd` >= 0: the child starts in that cgroup v2 directory
// (CLONE_INTO_CGROUP). `ns_flags`: CLONE_NEW* namespaces the child starts in. Returns the child's
// pid once it has called execve or exited, or -errno. Async-signal-safe.
pid_t CloneVfork(void (*fn)(void*), void* arg, void* stack, size_t stack_size, int cgroup_fd,
                 uint64_t ns_flags = 0);

}  // namespace brood::sys
