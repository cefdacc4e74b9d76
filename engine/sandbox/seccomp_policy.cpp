// The task policy as data (the way Chromium's baseline policy and Docker's default profile read):
// named sets of allowed calls with the reason they are safe inside brood's sandbox, then every
// other call the kernel knows, denied, each with its own reason. The allowed sets were sized by
// running real programs inside the sandbox under --on-violation log (docs/sandbox.md says which).
#include "sandbox/seccomp_policy.hpp"

#include <seccomp.h>

#include <array>
#include <cstdlib>
#include <vector>

namespace brood::sandbox {
namespace {

// clang-format off
// --- Allowed ---

constexpr PolicyCall kFiles[] = {
  {"open"}, {"openat"}, {"openat2"}, {"creat"}, {"close"}, {"close_range"}, {"read"}, {"write"},
  {"readv"}, {"writev"}, {"pread64"}, {"pwrite64"}, {"preadv"}, {"pwritev"}, {"preadv2"},
  {"pwritev2"}, {"lseek"}, {"dup"}, {"dup2"}, {"dup3"}, {"fcntl"}, {"flock"}, {"fsync"},
  {"fdatasync"}, {"syncfs"}, {"sync_file_range"}, {"fadvise64"}, {"readahead"}, {"fallocate"},
  {"truncate"}, {"ftruncate"}, {"sendfile"}, {"splice"}, {"tee"}, {"copy_file_range"},
  {"stat"}, {"fstat"}, {"lstat"}, {"newfstatat"}, {"statx"}, {"statfs"}, {"fstatfs"},
  {"access"}, {"faccessat"}, {"faccessat2"}, {"getdents"}, {"getdents64"}, {"readlink"},
  {"readlinkat"}, {"getcwd"}, {"chdir"}, {"fchdir"}, {"umask"},
};

constexpr PolicyCall kFileTree[] = {
  {"mkdir"}, {"mkdirat"}, {"rmdir"}, {"unlink"}, {"unlinkat"}, {"rename"}, {"renameat"},
  {"renameat2"}, {"link"}, {"linkat"}, {"symlink"}, {"symlinkat"}, {"mknod"}, {"mknodat"},
  {"chmod"}, {"fchmod"}, {"fchmodat"}, {"fchmodat2"}, {"chown"}, {"fchown"}, {"lchown"},
  {"fchownat"}, {"utime"}, {"utimes"}, {"utimensat"}, {"futimesat"},
};

constexpr PolicyCall kXattrs[] = {
  {"getxattr"}, {"lgetxattr"}, {"fgetxattr"}, {"listxattr"}, {"llistxattr"}, {"flistxattr"},
  {"setxattr"}, {"lsetxattr"}, {"fsetxattr"}, {"removexattr"}, {"lremovexattr"},
  {"fremovexattr"},
};

constexpr PolicyCall kFileEvents[] = {
  {"inotify_init"}, {"inotify_init1"}, {"inotify_add_watch"}, {"inotify_rm_watch"},
};

constexpr PolicyCall kPolling[] = {
  {"pipe"}, {"pipe2"}, {"poll"}, {"ppoll"}, {"select"}, {"pselect6"}, {"epoll_create"},
  {"epoll_create1"}, {"epoll_ctl"}, {"epoll_wait"}, {"epoll_pwait"}, {"epoll_pwait2"},
  {"eventfd"}, {"eventfd2"}, {"signalfd"}, {"signalfd4"}, {"timerfd_create"},
  {"timerfd_settime"}, {"timerfd_gettime"},
};

constexpr PolicyCall kAsyncIo[] = {
  {"io_setup"}, {"io_destroy"}, {"io_submit"}, {"io_cancel"}, {"io_getevents"},
  {"io_pgetevents"},
};

constexpr PolicyCall kMemory[] = {
  {"brk"}, {"mmap"}, {"munmap"}, {"mremap"}, {"mprotect"}, {"madvise"}, {"mincore"}, {"msync"},
  {"mlock"}, {"mlock2"}, {"munlock"}, {"mlockall"}, {"munlockall"}, {"remap_file_pages"},
  {"membarrier"}, {"memfd_create"}, {"pkey_alloc"}, {"pkey_free"}, {"pkey_mprotect"},
  {"mseal"}, {"map_shadow_stack"}, {"get_mempolicy"}, {"set_mempolicy"}, {"mbind"},
  {"set_mempolicy_home_node"},
};

constexpr PolicyCall kProcesses[] = {
  {"fork"}, {"vfork"}, {"execve"}, {"execveat"}, {"exit"}, {"exit_group"}, {"wait4"},
  {"waitid"}, {"getpid"}, {"getppid"}, {"gettid"}, {"getpgid"}, {"setpgid"}, {"getpgrp"},
  {"getsid"}, {"setsid"}, {"set_tid_address"}, {"arch_prctl"}, {"prctl"}, {"seccomp"},
  {"pidfd_open"}, {"uname"}, {"sysinfo"}, {"getrandom"}, {"restart_syscall"},
};

constexpr PolicyCall kThreads[] = {
  {"futex"}, {"futex_waitv"}, {"futex_wake"}, {"futex_wait"}, {"futex_requeue"},
  {"set_robust_list"}, {"get_robust_list"}, {"rseq"}, {"sched_yield"}, {"sched_getaffinity"},
  {"sched_setaffinity"}, {"sched_getparam"}, {"sched_setparam"}, {"sched_getscheduler"},
  {"sched_setscheduler"}, {"sched_get_priority_max"}, {"sched_get_priority_min"},
  {"sched_rr_get_interval"}, {"sched_getattr"}, {"sched_setattr"}, {"getpriority"},
  {"setpriority"}, {"ioprio_get"}, {"ioprio_set"},
};

constexpr PolicyCall kCredentials[] = {
  {"getuid"}, {"geteuid"}, {"getgid"}, {"getegid"}, {"setuid"}, {"setgid"}, {"setreuid"},
  {"setregid"}, {"setresuid"}, {"getresuid"}, {"setresgid"}, {"getresgid"}, {"getgroups"},
  {"setgroups"}, {"setfsuid"}, {"setfsgid"}, {"capget"}, {"capset"}, {"getrlimit"},
  {"setrlimit"}, {"prlimit64"}, {"getrusage"}, {"times"},
};

constexpr PolicyCall kSignals[] = {
  {"rt_sigaction"}, {"rt_sigprocmask"}, {"rt_sigreturn"}, {"rt_sigpending"},
  {"rt_sigtimedwait"}, {"rt_sigqueueinfo"}, {"rt_tgsigqueueinfo"}, {"rt_sigsuspend"},
  {"sigaltstack"}, {"kill"}, {"tkill"}, {"tgkill"}, {"pidfd_send_signal"}, {"pause"},
  {"alarm"}, {"getitimer"}, {"setitimer"}, {"timer_create"}, {"timer_settime"},
  {"timer_gettime"}, {"timer_getoverrun"}, {"timer_delete"},
};

constexpr PolicyCall kTime[] = {
  {"clock_gettime"}, {"clock_getres"}, {"clock_nanosleep"}, {"nanosleep"}, {"gettimeofday"},
  {"time"}, {"getcpu"},
};

constexpr PolicyCall kSockets[] = {
  {"socketpair"}, {"bind"}, {"listen"}, {"accept"}, {"accept4"}, {"connect"}, {"getsockname"},
  {"getpeername"}, {"sendto"}, {"recvfrom"}, {"sendmsg"}, {"recvmsg"}, {"sendmmsg"},
  {"recvmmsg"}, {"shutdown"}, {"setsockopt"}, {"getsockopt"},
};

constexpr PolicyCall kIpc[] = {
  {"shmget"}, {"shmat"}, {"shmdt"}, {"shmctl"}, {"semget"}, {"semop"}, {"semtimedop"},
  {"semctl"}, {"msgget"}, {"msgsnd"}, {"msgrcv"}, {"msgctl"}, {"mq_open"}, {"mq_unlink"},
  {"mq_timedsend"}, {"mq_timedreceive"}, {"mq_notify"}, {"mq_getsetattr"},
};

// The kernel lets these through every seccomp filter (since 6.14): they work only when entered
// from the kernel's own uprobe trampoline, and anywhere else kill the caller with SIGILL.
constexpr PolicyCall kUprobes[] = {{"uretprobe"}, {"uprobe"}};

// --- Allowed with some arguments (a guard before libseccomp's program checks them) ---

constexpr PolicyCall kChecked[] = {
  {"clone", "without CLONE_NEW* flags: threads, fork and posix_spawn; with them it would make "
            "namespaces, like unshare"},
  {"ioctl", "every request but TIOCSTI and TIOCLINUX, which push input into a terminal another "
            "process reads"},
  {"personality", "only the query (0xffffffff) and PER_LINUX: READ_IMPLIES_EXEC, "
                  "ADDR_NO_RANDOMIZE and MMAP_PAGE_ZERO undo hardening"},
  {"socket", "AF_UNIX, AF_INET, AF_INET6, and AF_NETLINK with NETLINK_ROUTE (getaddrinfo, "
             "if_nameindex); other families answer EAFNOSUPPORT and other netlink protocols "
             "EPROTONOSUPPORT, as on a kernel built without them: never a violation"},
};

// --- Denied (EPERM) ---

constexpr PolicyCall kOtherProcesses[] = {
  {"ptrace", "controls other processes; can rewrite a syscall after seccomp passed it (breaks "
             "gdb, strace and LeakSanitizer inside a task)"},
  {"process_vm_readv", "reads another process's memory"},
  {"process_vm_writev", "writes another process's memory"},
  {"pidfd_getfd", "copies a file descriptor out of another process"},
  {"kcmp", "compares kernel objects of two processes, ordering kernel pointers; for "
           "checkpointing (breaks CRIU)"},
  {"migrate_pages", "moves another process's pages between NUMA nodes (breaks numactl "
                    "--migrate)"},
  {"move_pages", "moves pages between NUMA nodes, also another process's"},
  {"process_madvise", "advises on (and can reclaim) another process's memory"},
  {"process_mrelease", "reaps the memory of another, dying process"},
};

constexpr PolicyCall kMountTree[] = {
  {"mount", "changes the mount tree the zygote built"},
  {"umount2", "would uncover what the sandbox mounted over"},
  {"pivot_root", "changes the root the zygote pivoted to"},
  {"chroot", "with a directory fd kept open, the classic way out of a root"},
  {"move_mount", "new mount API: attaches mounts"},
  {"open_tree", "new mount API: clones mount trees"},
  {"fsopen", "new mount API: creates filesystem contexts"},
  {"fsconfig", "new mount API: configures filesystem contexts"},
  {"fsmount", "new mount API: turns a context into a mount"},
  {"fspick", "new mount API: reconfigures an existing mount"},
  {"mount_setattr", "could make a read-only mount writable"},
  {"open_by_handle_at", "opens any inode by handle, outside the mount tree ('shocker')"},
  {"name_to_handle_at", "makes handles for open_by_handle_at; leaks inode identities"},
};

constexpr PolicyCall kNamespaces[] = {
  {"unshare", "creates namespaces (a user namespace gives the task capabilities)"},
  {"setns", "joins another namespace"},
  {"sethostname", "the task's host name is brood's; it has no capability to change it anyway"},
  {"setdomainname", "as sethostname"},
};

constexpr PolicyCall kKernelSurface[] = {
  {"bpf", "eBPF programs and maps: verifier and JIT attack surface"},
  {"perf_event_open", "kernel attack surface and a side channel on other processes (breaks "
                      "perf)"},
  {"userfaultfd", "stalls the kernel mid-copy, widening race windows for exploits"},
  {"io_uring_setup", "its operations bypass seccomp; a steady source of kernel bugs"},
  {"io_uring_enter", "io_uring: see io_uring_setup"},
  {"io_uring_register", "io_uring: see io_uring_setup"},
  {"keyctl", "kernel keyrings are not namespaced"},
  {"add_key", "kernel keyrings are not namespaced"},
  {"request_key", "kernel keyrings are not namespaced; can upcall to host helpers"},
  {"fanotify_init", "watches whole filesystems"},
  {"fanotify_mark", "fanotify: see fanotify_init"},
  {"lookup_dcookie", "old oprofile interface that turns kernel cookies into paths"},
  {"uselib", "obsolete a.out loader with a history of bugs"},
  {"nfsservctl", "removed from the kernel in 3.1"},
  {"modify_ldt", "16-bit segments in the local descriptor table: a long record of kernel bugs; "
                 "only Wine and DOS emulators need it"},
  {"set_thread_area", "32-bit TLS descriptors (64-bit code uses arch_prctl): modify_ldt's "
                      "surface"},
  {"get_thread_area", "as set_thread_area"},
  {"memfd_secret", "memory taken out of the kernel's direct map, which neither the kernel nor "
                   "brood can look into; nothing ordinary needs it"},
  {"vmsplice", "maps user pages into a pipe: part of several page-cache exploits; ordinary "
               "programs copy instead"},
  {"cachestat", "page-cache state of files shared with the host: a side channel"},
  {"landlock_create_ruleset", "brood applies Landlock itself; nested domains add nothing a task "
                              "needs and could fill the host's audit log"},
  {"landlock_add_rule", "as landlock_create_ruleset"},
  {"landlock_restrict_self", "as landlock_create_ruleset"},
  {"ustat", "obsolete (statfs replaces it)"},
  {"sysfs", "obsolete (/proc/filesystems replaces it)"},
};

constexpr PolicyCall kHostWide[] = {
  {"kexec_load", "replaces the running kernel"},
  {"kexec_file_load", "replaces the running kernel"},
  {"init_module", "loads kernel code"},
  {"finit_module", "loads kernel code"},
  {"delete_module", "unloads kernel code"},
  {"reboot", "reboots or halts the host"},
  {"swapon", "changes the host's swap"},
  {"swapoff", "changes the host's swap"},
  {"acct", "process accounting is host-wide"},
  {"quotactl", "filesystem quotas are host-wide"},
  {"quotactl_fd", "filesystem quotas are host-wide"},
  {"settimeofday", "the realtime clock is host-wide"},
  {"clock_settime", "the realtime clock is host-wide"},
  {"clock_adjtime", "adjusts the host clock"},
  {"adjtimex", "adjusts the host clock"},
  {"syslog", "reads the kernel log: kernel addresses and other tasks' messages"},
  {"iopl", "raw I/O port access"},
  {"ioperm", "raw I/O port access"},
  {"vhangup", "hangs up the terminal"},
};

// --- Pretended (0, nothing done) ---

constexpr PolicyCall kPretendCalls[] = {
  {"sync", "would flush every filesystem of the host, slowing it for everyone; it cannot fail "
           "(libc's sync() returns nothing), so the coreutils command and os.sync() work as "
           "before, also under kill; fsync and syncfs, which flush the task's own files, stay "
           "allowed"},
};

// --- Absent (ENOSYS) ---

constexpr PolicyCall kAbsentCalls[] = {
  {"clone3", "its flags are in memory, out of seccomp's reach; ENOSYS makes libc fall back to "
             "clone, whose flags are checked"},
  {"setxattrat", "a newer form (6.13) of the xattr calls, which are allowed: no libc uses it yet, "
                 "and on ENOSYS a program falls back to them as on an older kernel; reviewed "
                 "before it is allowed"},
  {"getxattrat", "as setxattrat"},
  {"listxattrat", "as setxattrat"},
  {"removexattrat", "as setxattrat"},
  {"file_getattr", "a newer form (6.17) of the FS_IOC_FSGETXATTR ioctl: as setxattrat"},
  {"file_setattr", "as file_getattr"},
  {"open_tree_attr", "the new mount API (6.15), which is denied; ENOSYS as on older kernels"},
  {"statmount", "a newer form of /proc/self/mountinfo; libmount falls back to it on ENOSYS"},
  {"listmount", "as statmount"},
  {"lsm_get_self_attr", "a newer form of /proc/self/attr; no libc uses it yet"},
  {"lsm_set_self_attr", "as lsm_get_self_attr"},
  {"lsm_list_modules", "as lsm_get_self_attr"},
  {"_sysctl", "removed in Linux 5.5"},
  {"create_module", "never implemented on x86_64"},
  {"get_kernel_syms", "never implemented on x86_64"},
  {"query_module", "never implemented on x86_64"},
  {"getpmsg", "never implemented"},
  {"putpmsg", "never implemented"},
  {"afs_syscall", "never implemented"},
  {"tuxcall", "never implemented"},
  {"security", "never implemented"},
  {"vserver", "never implemented"},
  {"epoll_ctl_old", "never implemented"},
  {"epoll_wait_old", "never implemented"},
};

constexpr SyscallSet kPolicy[] = {
  {"files", Answer::kAllow, "open, read, write and look at files and directories: the root is "
   "read-only, the workspace, /tmp and /dev/shm are the task's own, and Landlock bounds what the "
   "task may write", kFiles},
  {"file-tree", Answer::kAllow, "make, remove, rename, link and chmod files in the task's own "
   "writable directories; mknod makes FIFOs and sockets only (device nodes need CAP_MKNOD, which "
   "the task lacks, and Landlock refuses them)", kFileTree},
  {"xattrs", Answer::kAllow, "extended attributes (cp -a, tar, pip) on files the task can "
   "write", kXattrs},
  {"file-events", Answer::kAllow, "inotify: build tools, test watchers and Node.js watch files; "
   "only what the task can read", kFileEvents},
  {"polling", Answer::kAllow, "pipes, poll, select, epoll and the event, signal and timer fds "
   "every event loop uses", kPolling},
  {"async-io", Answer::kAllow, "Linux AIO (libaio: databases, fio); unlike io_uring its "
   "operations go through the ordinary checks", kAsyncIo},
  {"memory", Answer::kAllow, "map, protect and advise on the task's own memory; locking is "
   "bounded by RLIMIT_MEMLOCK and the memory limit; the NUMA policy calls steer only the "
   "caller's memory (the JVM and OpenMP use them)", kMemory},
  {"processes", Answer::kAllow, "start, run and reap processes inside the task's own pid "
   "namespace; prctl and seccomp can only restrict the caller further", kProcesses},
  {"threads", Answer::kAllow, "futexes, restartable sequences and scheduling of the task's own "
   "threads; raising a priority needs a capability the task lacks", kThreads},
  {"credentials", Answer::kAllow, "the task has one uid and no capabilities in its user "
   "namespace, so these can only read or drop; rlimits only go down", kCredentials},
  {"signals", Answer::kAllow, "signals and timers; a signal reaches only the task's own "
   "processes (its pid namespace, and Landlock's signal scope)", kSignals},
  {"time", Answer::kAllow, "reading clocks and sleeping; real calls where the clock source has "
   "no vDSO", kTime},
  {"sockets", Answer::kAllow, "the task's network is its own namespace with loopback only, or "
   "with network: host the host's; families are checked at socket()", kSockets},
  {"ipc", Answer::kAllow, "System V and POSIX IPC live in the task's own IPC namespace "
   "(multiprocessing, PostgreSQL)", kIpc},
  {"uprobes", Answer::kAllow, "the kernel passes them through any filter; they serve the "
   "kernel's own uprobe trampolines and send SIGILL to any other caller", kUprobes},
  {"checked", Answer::kChecked, "allowed with some arguments only", kChecked},
  {"other-processes", Answer::kDeny, "reaching into other processes", kOtherProcesses},
  {"mount-tree", Answer::kDeny, "the mount tree is built by the zygote; the task must not "
   "reshape it or look behind it", kMountTree},
  {"namespaces", Answer::kDeny, "new namespaces make the task root over fresh kernel objects",
   kNamespaces},
  {"kernel-surface", Answer::kDeny, "kernel attack surface that ordinary programs do not need",
   kKernelSurface},
  {"host-wide", Answer::kDeny, "host-wide state: none of it is namespaced", kHostWide},
  {"pretended", Answer::kPretend, "succeed without doing anything: what they would do reaches "
   "the whole host, and no program can tell; never a violation", kPretendCalls},
  {"absent", Answer::kAbsent, "answer ENOSYS, as on a kernel without them: libc and runtimes "
   "fall back; never a violation", kAbsentCalls},
};
// clang-format on

// Calls newer than libseccomp 2.5.4's table (it ends at futex_requeue, 456).
struct Newer {
  const char* name;
  int nr;
};
constexpr Newer kNewer[] = {
    {"uretprobe", 335},         {"uprobe", 336},
    {"statmount", 457},         {"listmount", 458},
    {"lsm_get_self_attr", 459}, {"lsm_set_self_attr", 460},
    {"lsm_list_modules", 461},  {"mseal", 462},
    {"setxattrat", 463},        {"getxattrat", 464},
    {"listxattrat", 465},       {"removexattrat", 466},
    {"open_tree_attr", 467},    {"file_getattr", 468},
    {"file_setattr", 469},
};

}  // namespace

std::span<const SyscallSet> TaskPolicy() { return kPolicy; }

int SyscallNumber(const std::string& name) {
  for (const Newer& n : kNewer) {
    if (name == n.name) return n.nr;
  }
  int nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, name.c_str());
  return nr == __NR_SCMP_ERROR ? -1 : nr;
}

std::string SyscallName(uint32_t nr) {
  for (const Newer& n : kNewer) {
    if (nr == static_cast<uint32_t>(n.nr)) return n.name;
  }
  if (nr < 4096) {
    if (char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, static_cast<int>(nr))) {
      std::string s = name;
      free(name);
      return s;
    }
  }
  return "syscall_" + std::to_string(nr);
}

Lookup LookUp(uint32_t nr) {
  static const auto table = [] {
    std::vector<Lookup> t(kHighestKnown + 1, Lookup{Answer::kAbsent, nullptr, nullptr});
    for (const SyscallSet& set : kPolicy) {
      for (const PolicyCall& call : set.calls) {
        int n = SyscallNumber(call.name);
        if (n >= 0 && static_cast<uint32_t>(n) <= kHighestKnown) t[n] = {set.answer, &set, &call};
      }
    }
    return t;
  }();
  if (nr > kHighestKnown) return {Answer::kAbsent, nullptr, nullptr};
  return table[nr];
}

}  // namespace brood::sandbox
