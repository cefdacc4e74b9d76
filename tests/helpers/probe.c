// brood-probe: the one helper program integration tests run inside the sandbox, chosen by argv
// (sandbox2's testcases/, folded into one static multi-call binary so a test copies a single
// file into /workspace). Usage: ./probe SUBCOMMAND ARGS...; `./probe` alone lists them.
//
// Output is plain text, one fact per line, written line-buffered so that what was printed
// before a kill is still seen. Failures are reported by errno *name* (ENOSPC, EPERM), never by
// number or strerror text. Exit codes: 0 = did what was asked (or observed, for `syscall`),
// 1 = the operation failed (the line printed says how), 2 = usage error.
//
// Only libc, pthreads and raw syscall(2): this runs under the sandbox's seccomp policy, so it
// must not depend on anything the policy might deny before the call a test means to probe.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

// x86_64 numbers of calls that headers older than Linux 5.12 lack (redefining one that exists
// with the same value is harmless).
#ifndef __NR_mount_setattr
#define __NR_open_tree 428
#define __NR_move_mount 429
#define __NR_fsopen 430
#define __NR_fsconfig 431
#define __NR_fsmount 432
#define __NR_fspick 433
#define __NR_clone3 435
#define __NR_mount_setattr 442
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

// Most subcommands take no arguments but share one signature.
#pragma GCC diagnostic ignored "-Wunused-parameter"

#define MiB (1024L * 1024L)

extern char** environ;

// ---- helpers --------------------------------------------------------------------------------

static const char* ename(int err) {
  const char* name = strerrorname_np(err);
  static char buf[24];
  if (name) return name;
  snprintf(buf, sizeof buf, "errno%d", err);
  return buf;
}

// Prints "WHAT ENAME" (just "ENAME" when WHAT is empty) and returns exit code 1.
static int fail(const char* what, int err) {
  printf("%s%s%s\n", what, *what ? " " : "", ename(err));
  return 1;
}

// Parses a decimal integer argument; anything else is a usage error (exit 2).
static long num(const char* s) {
  char* end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end) {
    fprintf(stderr, "probe: not a number: '%s'\n", s);
    exit(2);
  }
  return v;
}

// Writes all of buf to fd; returns 0, or the errno that stopped it.
static int write_all(int fd, const char* buf, size_t len, long* written) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (written) *written += n;
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

static void spin_forever(void) {
  volatile unsigned long x = 0;
  for (;;) x++;
}

static int cmp_long(const void* a, const void* b) {
  long x = *(const long*)a, y = *(const long*)b;
  return (x > y) - (x < y);
}

static int cmp_str(const void* a, const void* b) {
  return strcmp(*(char* const*)a, *(char* const*)b);
}

// Prints the numeric entries of a directory, ascending, space-separated on one line; skips
// the directory's own fd when listing /proc/self/fd.
static int print_numeric_entries(const char* path, int skip_own_fd) {
  DIR* d = opendir(path);
  if (!d) return fail("", errno);
  long* v = NULL;
  size_t n = 0, cap = 0;
  for (struct dirent* e; (e = readdir(d));) {
    char* end;
    long x = strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end || (skip_own_fd && x == dirfd(d))) continue;
    if (n == cap && !(v = realloc(v, (cap = cap ? 2 * cap : 64) * sizeof *v))) abort();
    v[n++] = x;
  }
  closedir(d);
  qsort(v, n, sizeof *v, cmp_long);
  for (size_t i = 0; i < n; i++) printf("%s%ld", i ? " " : "", v[i]);
  printf("\n");
  free(v);
  return 0;
}

// ---- resources: memory, processes, CPU, time, output, disk ------------------------------------

static int cmd_mem(char** a) {
  long mb = num(a[0]);
  static char* volatile keep;  // escapes, so the compiler cannot drop the stores below
  char* p = keep = malloc((size_t)mb * MiB);
  if (!p) return fail("mem", errno);
  long page = sysconf(_SC_PAGESIZE);
  for (long off = 0; off < mb * MiB; off += page) memset(p + off, 1, (size_t)page);
  printf("ok\n");
  return 0;
}

static int cmd_tmpfsmem(char** a) {
  long mb = num(a[0]), done = 0;
  static char chunk[MiB];
  memset(chunk, 'm', sizeof chunk);
  int fd = open("/dev/shm/fill", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err = fd < 0 ? errno : 0;
  for (long i = 0; !err && i < mb; i++) err = write_all(fd, chunk, sizeof chunk, &done);
  if (err) {
    printf("tmpfsmem %s bytes=%ld\n", ename(err), done);
    return 1;
  }
  printf("ok\n");
  return 0;
}

static int cmd_forkbomb(char** a) {
  for (;;) fork();
  return 0;  // not reached
}

static int cmd_spin(char** a) {
  long nproc = a[0] ? num(a[0]) : 1;
  for (long i = 1; i < nproc; i++)
    if (fork() == 0) break;
  spin_forever();
  return 0;
}

static int cmd_sleep(char** a) {
  sleep_ms(num(a[0]));
  printf("slept\n");
  return 0;
}

static int cmd_flood(char** a) {
  long bytes = num(a[0]);
  const char* where = a[1] ? a[1] : "out";
  int out = !strcmp(where, "out") || !strcmp(where, "both");
  int err = !strcmp(where, "err") || !strcmp(where, "both");
  if (!out && !err) {
    fprintf(stderr, "probe flood: stream must be out, err or both\n");
    return 2;
  }
  static char chunk[64 * 1024];
  memset(chunk, 'x', sizeof chunk);
  for (long left = bytes; bytes < 0 || left > 0; left -= (long)sizeof chunk) {
    size_t n = bytes < 0 || left > (long)sizeof chunk ? sizeof chunk : (size_t)left;
    if ((out && write_all(1, chunk, n, NULL)) || (err && write_all(2, chunk, n, NULL))) return 1;
  }
  return 0;
}

static int cmd_diskfill(char** a) {
  static char chunk[MiB];
  memset(chunk, 'd', sizeof chunk);
  long done = 0;
  int fd = open(a[0] ? a[0] : "/workspace/fill", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err = fd < 0 ? errno : 0;
  while (!err) err = write_all(fd, chunk, sizeof chunk, &done);
  printf("%s\nbytes %ld\n", ename(err), done);
  return 1;
}

static int cmd_inodefill(char** a) {
  const char* dir = a[0] ? a[0] : "/workspace/i";
  char path[4096];
  long count = 0;
  int err = 0;
  if (mkdir(dir, 0755) < 0 && errno != EEXIST) err = errno;
  while (!err) {
    snprintf(path, sizeof path, "%s/%ld", dir, count);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
      err = errno;
    } else {
      close(fd);
      count++;
    }
  }
  printf("%s\nfiles %ld\n", ename(err), count);
  return 1;
}

// ---- seccomp: named system calls --------------------------------------------------------------

// Arguments are chosen so that a call the filter lets through reaches the kernel and fails
// there harmlessly, where possible with an error other than EPERM (EFAULT from a bad pointer,
// EINVAL from bad flags, checked before any capability), so "errno=EPERM" points at the filter.
// Some calls check capabilities first and answer EPERM to an unprivileged caller either way
// (measured as uid 65534 on 6.18: pivot_root, move_mount, fsopen, fsmount, fspick, reboot,
// swapoff, acct, syslog with dmesg_restrict, kexec_*, *_module, and clone/unshare with any
// namespace flag but CLONE_NEWUSER); under --on-violation kill the filter's verdict is plain.
// Nothing here has an effect even as host root: bad magic for reboot, 1000 segments for
// kexec_load, NULL names for delete_module and swapoff.
#define BAD ((long)1) /* an unmapped user address: EFAULT once the kernel reads it */

enum { PLAIN, FORKLIKE };  // FORKLIKE: clone-style; the child exits at once, the parent reaps it

struct call {
  const char* name;
  int kind;
  long nr, a[6];
};

static int cmd_syscall(char** argv) {
  static char mine[8] = "probe", other[8];
  struct iovec local = {other, sizeof other}, remote = {mine, sizeof mine};
  const long self = getpid(), L = (long)&local, R = (long)&remote;
  const struct call calls[] = {
      {"getpid", PLAIN, __NR_getpid, {0}},
      {"ptrace", PLAIN, __NR_ptrace, {2 /* PTRACE_PEEKDATA */, self, 0, 0}},
      {"process_vm_readv", PLAIN, __NR_process_vm_readv, {self, L, 1, R, 1, 0}},
      {"process_vm_writev", PLAIN, __NR_process_vm_writev, {self, R, 1, L, 1, 0}},
      {"mount", PLAIN, __NR_mount, {BAD, BAD, BAD, 0, 0}},
      {"umount2", PLAIN, __NR_umount2, {BAD, 0x100}},
      {"pivot_root", PLAIN, __NR_pivot_root, {BAD, BAD}},
      {"move_mount", PLAIN, __NR_move_mount, {-1, BAD, -1, BAD, 0x40000000}},
      {"open_tree", PLAIN, __NR_open_tree, {-1, BAD, 0x40000000}},
      {"fsopen", PLAIN, __NR_fsopen, {BAD, 0x40000000}},
      {"fsconfig", PLAIN, __NR_fsconfig, {-1, 0, 0, 0, 0}},
      {"fsmount", PLAIN, __NR_fsmount, {-1, 0x40000000, 0}},
      {"fspick", PLAIN, __NR_fspick, {-1, BAD, 0x40000000}},
      {"mount_setattr", PLAIN, __NR_mount_setattr, {-1, BAD, 0x40000000, 0, 0}},
      {"unshare", PLAIN, __NR_unshare, {CLONE_NEWUSER}},
      {"unshare_newns", PLAIN, __NR_unshare, {CLONE_NEWNS}},
      {"unshare_newnet", PLAIN, __NR_unshare, {CLONE_NEWNET}},
      {"setns", PLAIN, __NR_setns, {-1, 0}},
      {"clone_newuser", FORKLIKE, __NR_clone, {CLONE_NEWUSER | SIGCHLD}},
      {"clone_newns", FORKLIKE, __NR_clone, {CLONE_NEWNS | SIGCHLD}},
      {"clone_newnet", FORKLIKE, __NR_clone, {CLONE_NEWNET | SIGCHLD}},
      {"clone_newpid", FORKLIKE, __NR_clone, {CLONE_NEWPID | SIGCHLD}},
      {"clone_newipc", FORKLIKE, __NR_clone, {CLONE_NEWIPC | SIGCHLD}},
      {"clone_newuts", FORKLIKE, __NR_clone, {CLONE_NEWUTS | SIGCHLD}},
      {"clone_newcgroup", FORKLIKE, __NR_clone, {CLONE_NEWCGROUP | SIGCHLD}},
      {"clone_plain", FORKLIKE, __NR_clone, {SIGCHLD}},  // control: a fork must still work
      {"clone3", PLAIN, __NR_clone3, {0, 0}},            // size 0: EINVAL in the kernel
      {"bpf", PLAIN, __NR_bpf, {1000, 0, 0}},
      {"perf_event_open", PLAIN, __NR_perf_event_open, {0, 0, -1, -1, 0}},
      {"keyctl", PLAIN, __NR_keyctl, {0x7fff, 0, 0, 0, 0}},
      {"add_key", PLAIN, __NR_add_key, {BAD, BAD, 0, 0, 0}},
      {"request_key", PLAIN, __NR_request_key, {BAD, BAD, 0, 0}},
      {"io_uring_setup", PLAIN, __NR_io_uring_setup, {1, 0}},
      {"io_uring_enter", PLAIN, __NR_io_uring_enter, {-1, 0, 0, 0, 0, 0}},
      {"io_uring_register", PLAIN, __NR_io_uring_register, {-1, 0, 0, 0}},
      {"userfaultfd", PLAIN, __NR_userfaultfd, {1 /* USER_MODE_ONLY */ | 0x10}},
      {"kexec_load", PLAIN, __NR_kexec_load, {0, 1000, 0, 0}},
      {"kexec_file_load", PLAIN, __NR_kexec_file_load, {-1, -1, 0, 0, 0x40000000}},
      {"init_module", PLAIN, __NR_init_module, {0, 0, 0}},
      {"finit_module", PLAIN, __NR_finit_module, {-1, 0, 0x40000000}},
      {"delete_module", PLAIN, __NR_delete_module, {0, 0}},
      {"reboot", PLAIN, __NR_reboot, {0, 0, 0, 0}},
      {"swapon", PLAIN, __NR_swapon, {BAD, 0x40000000}},
      {"swapoff", PLAIN, __NR_swapoff, {0}},
      {"acct", PLAIN, __NR_acct, {BAD}},
      {"quotactl", PLAIN, __NR_quotactl, {0, 0, 0, 0}},
      {"settimeofday", PLAIN, __NR_settimeofday, {BAD, 0}},
      {"clock_settime", PLAIN, __NR_clock_settime, {CLOCK_REALTIME, BAD}},
      {"adjtimex", PLAIN, __NR_adjtimex, {BAD}},
      {"clock_adjtime", PLAIN, __NR_clock_adjtime, {CLOCK_REALTIME, BAD}},
      {"open_by_handle_at", PLAIN, __NR_open_by_handle_at, {-1, BAD, 0}},
      {"name_to_handle_at", PLAIN, __NR_name_to_handle_at, {AT_FDCWD, (long)"/", BAD, BAD, 0}},
      {"syslog", PLAIN, __NR_syslog, {10 /* SIZE_BUFFER: read-only */, 0, 0}},
      {"personality", PLAIN, __NR_personality, {0x0008 /* PER_LINUX32 */}},
      {"chroot", PLAIN, __NR_chroot, {BAD}},
  };
  for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
    const struct call* c = &calls[i];
    if (strcmp(c->name, argv[0])) continue;
    long r = syscall(c->nr, c->a[0], c->a[1], c->a[2], c->a[3], c->a[4], c->a[5]);
    int err = errno;
    if (c->kind == FORKLIKE && r == 0) _exit(0);
    if (c->kind == FORKLIKE && r > 0) waitpid((pid_t)r, NULL, 0);
    if (r < 0)
      printf("%s errno=%s\n", c->name, ename(err));
    else
      printf("%s ok\n", c->name);
    return 0;
  }
  fprintf(stderr, "probe syscall: unknown call '%s'; known:", argv[0]);
  for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) fprintf(stderr, " %s", calls[i].name);
  fprintf(stderr, "\n");
  return 2;
}

// A non-native ABI must kill the task; reaching the printf means it did not.
static int cmd_x32(char** a) {
  syscall(0x40000000 | __NR_getpid);
  printf("survived\n");
  return 0;
}

static int cmd_int80(char** a) {
#if defined(__x86_64__)
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "r8", "r9", "r10", "r11", "memory", "cc");
  (void)ret;
  printf("survived\n");
  return 0;
#else
  printf("int80 unsupported\n");
  return 1;
#endif
}

// ---- what the task sees: fds, env, identity, files, processes, mounts ---------------------------

static int cmd_fds(char** a) { return print_numeric_entries("/proc/self/fd", 1); }

static int cmd_env(char** a) {
  size_t n = 0;
  while (environ[n]) n++;
  char** v = malloc((n + 1) * sizeof *v);
  memcpy(v, environ, n * sizeof *v);
  qsort(v, n, sizeof *v, cmp_str);
  for (size_t i = 0; i < n; i++) printf("%s\n", v[i]);
  free(v);
  return 0;
}

static int cmd_connect(char** a) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)num(a[1]))};
  const char* host = strcmp(a[0], "localhost") ? a[0] : "127.0.0.1";
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
    fprintf(stderr, "probe connect: HOST must be a dotted IPv4 address\n");
    return 2;
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct timeval tv = {5, 0};  // a blackholed address must not hang the task
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (fd < 0 || connect(fd, (struct sockaddr*)&sa, sizeof sa) < 0) return fail("", errno);
  printf("connected\n");
  return 0;
}

// Threads stay alive until all are created, so N of them exist at once (pids limit tests).
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t released_cv = PTHREAD_COND_INITIALIZER;
static int released;

static void* thread_main(void* arg) {
  volatile unsigned long sum = 0;
  for (unsigned long i = 0; i < 100000; i++) sum += i;
  pthread_mutex_lock(&mu);
  while (!released) pthread_cond_wait(&released_cv, &mu);
  pthread_mutex_unlock(&mu);
  return arg;
}

static int cmd_threads(char** a) {
  long n = num(a[0]), created = 0;
  pthread_t* t = calloc((size_t)(n > 0 ? n : 1), sizeof *t);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  int err = 0;
  while (created < n && !(err = pthread_create(&t[created], &attr, thread_main, NULL))) created++;
  pthread_mutex_lock(&mu);
  released = 1;
  pthread_cond_broadcast(&released_cv);
  pthread_mutex_unlock(&mu);
  for (long i = 0; i < created; i++) pthread_join(t[i], NULL);
  free(t);
  if (err) {
    printf("threads %s created=%ld\n", ename(err), created);
    return 1;
  }
  printf("threads ok\n");
  return 0;
}

static int cmd_read(char** a) {
  char buf[4096];
  int fd = open(a[0], O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("read", errno);
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) != 0;)
    if (n < 0 && errno != EINTR) return fail("read", errno);
  printf("read ok\n");
  return 0;
}

static int cmd_write(char** a) {
  int fd = open(a[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err = fd < 0 ? errno : write_all(fd, "probe\n", 6, NULL);
  if (!err && close(fd) < 0) err = errno;
  if (err) return fail("write", err);
  printf("write ok\n");
  return 0;
}

static int not_dots(const struct dirent* e) {
  return strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
}

static int cmd_ls(char** a) {
  struct dirent** v;
  int n = scandir(a[0], &v, not_dots, alphasort);  // C locale: alphasort is strcmp order
  if (n < 0) return fail("ls", errno);
  for (int i = 0; i < n; i++) {
    printf("%s\n", v[i]->d_name);
    free(v[i]);
  }
  free(v);
  return 0;
}

static int cmd_id(char** a) {
  gid_t g[256];
  int n = getgroups(256, g);
  printf("uid=%u gid=%u groups=", (unsigned)getuid(), (unsigned)getgid());
  for (int i = 0; i < n; i++) printf("%s%u", i ? "," : "", (unsigned)g[i]);
  printf("\neuid=%u egid=%u\n", (unsigned)geteuid(), (unsigned)getegid());
  return 0;
}

static int cmd_hostname(char** a) {
  struct utsname u;
  uname(&u);
  printf("%s\n", u.nodename);
  return 0;
}

// Prints KEY=VALUE for each field of /proc/self/status the sandbox is expected to set.
static int cmd_caps(char** a) {
  static const char* const fields[][2] = {{"CapEff", "CapEff"},  {"CapPrm", "CapPrm"},
                                          {"CapBnd", "CapBnd"},  {"CapAmb", "CapAmb"},
                                          {"NoNewPrivs", "nnp"}, {"Seccomp", "seccomp"}};
  FILE* f = fopen("/proc/self/status", "re");
  if (!f) return fail("caps", errno);
  char line[256], values[6][64] = {{0}};
  while (fgets(line, sizeof line, f)) {
    char* colon = strchr(line, ':');
    if (!colon) continue;
    *colon = 0;
    for (int i = 0; i < 6; i++)
      if (!strcmp(line, fields[i][0])) sscanf(colon + 1, " %63s", values[i]);
  }
  fclose(f);
  for (int i = 0; i < 6; i++) printf("%s=%s\n", fields[i][1], values[i][0] ? values[i] : "?");
  return 0;
}

static int cmd_ps(char** a) { return print_numeric_entries("/proc", 0); }

static int cmd_kill(char** a) {
  if (kill((pid_t)num(a[0]), (int)num(a[1])) < 0) return fail("kill", errno);
  printf("kill ok\n");
  return 0;
}

static int cmd_mounts(char** a) {
  char buf[65536];
  ssize_t n;
  int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("mounts", errno);
  fflush(stdout);
  while ((n = read(fd, buf, sizeof buf)) > 0) write_all(1, buf, (size_t)n, NULL);
  return 0;
}

static int cmd_rlimits(char** a) {
  static const struct {
    const char* name;
    int resource;
  } limits[] = {{"core", RLIMIT_CORE},   {"nofile", RLIMIT_NOFILE}, {"stack", RLIMIT_STACK},
                {"nproc", RLIMIT_NPROC}, {"as", RLIMIT_AS},         {"fsize", RLIMIT_FSIZE},
                {"cpu", RLIMIT_CPU}};
  for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
    struct rlimit r;
    getrlimit(limits[i].resource, &r);
    printf("%s", limits[i].name);
    rlim_t v[2] = {r.rlim_cur, r.rlim_max};
    for (int j = 0; j < 2; j++)
      if (v[j] == RLIM_INFINITY)
        printf(" unlimited");
      else
        printf(" %llu", (unsigned long long)v[j]);
    printf("\n");
  }
  return 0;
}

// ---- how the task ends --------------------------------------------------------------------------

static int cmd_exit(char** a) { exit((int)num(a[0])); }

static int cmd_abort(char** a) { abort(); }

static int cmd_segv(char** a) {
  *(volatile int*)0 = 1;
  return 0;
}

static int cmd_raise(char** a) {
  raise((int)num(a[0]));
  printf("survived\n");
  return 0;
}

// Leaves a grandchild in its own session with stdio closed, sleeping forever: the task ends
// when the parent exits, and brood must kill the rest of its pid namespace.
static int cmd_daemon(char** a) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return 1;
  pid_t child = fork();
  if (child == 0) {
    setsid();
    pid_t grandchild = fork();
    if (grandchild == 0) {
      close(0);
      close(1);
      close(2);
      close(p[0]);
      close(p[1]);
      for (;;) pause();
    }
    write_all(p[1], (const char*)&grandchild, sizeof grandchild, NULL);
    _exit(0);
  }
  close(p[1]);
  pid_t grandchild = -1;
  if (child < 0 || read(p[0], &grandchild, sizeof grandchild) != sizeof grandchild) return 1;
  waitpid(child, NULL, 0);
  printf("%d\n", (int)grandchild);
  return 0;
}

static int cmd_closeout(char** a) {
  close(1);
  close(2);
  sleep_ms(200);
  return 0;
}

static int cmd_stdin(char** a) {
  char buf[65536];
  long total = 0;
  for (ssize_t n; (n = read(0, buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("stdin", errno);
    total += n;
  }
  printf("stdin %ld\n", total);
  return 0;
}

// ---- dispatch -----------------------------------------------------------------------------------

static const struct {
  const char* name;
  int (*fn)(char**);
  int min_args, max_args;
  const char* args;
} commands[] = {
    {"mem", cmd_mem, 1, 1, "MB"},
    {"tmpfsmem", cmd_tmpfsmem, 1, 1, "MB"},
    {"forkbomb", cmd_forkbomb, 0, 0, ""},
    {"spin", cmd_spin, 0, 1, "[NPROC]"},
    {"sleep", cmd_sleep, 1, 1, "MS"},
    {"flood", cmd_flood, 1, 2, "BYTES|-1 [out|err|both]"},
    {"diskfill", cmd_diskfill, 0, 1, "[FILE=/workspace/fill]"},
    {"inodefill", cmd_inodefill, 0, 1, "[DIR=/workspace/i]"},
    {"syscall", cmd_syscall, 1, 1, "NAME"},
    {"x32", cmd_x32, 0, 0, ""},
    {"int80", cmd_int80, 0, 0, ""},
    {"fds", cmd_fds, 0, 0, ""},
    {"env", cmd_env, 0, 0, ""},
    {"connect", cmd_connect, 2, 2, "IPV4 PORT"},
    {"threads", cmd_threads, 1, 1, "N"},
    {"read", cmd_read, 1, 1, "PATH"},
    {"write", cmd_write, 1, 1, "PATH"},
    {"ls", cmd_ls, 1, 1, "PATH"},
    {"id", cmd_id, 0, 0, ""},
    {"hostname", cmd_hostname, 0, 0, ""},
    {"caps", cmd_caps, 0, 0, ""},
    {"ps", cmd_ps, 0, 0, ""},
    {"kill", cmd_kill, 2, 2, "PID SIG"},
    {"exit", cmd_exit, 1, 1, "N"},
    {"abort", cmd_abort, 0, 0, ""},
    {"segv", cmd_segv, 0, 0, ""},
    {"raise", cmd_raise, 1, 1, "SIG"},
    {"daemon", cmd_daemon, 0, 0, ""},
    {"closeout", cmd_closeout, 0, 0, ""},
    {"stdin", cmd_stdin, 0, 0, ""},
    {"rlimits", cmd_rlimits, 0, 0, ""},
    {"mounts", cmd_mounts, 0, 0, ""},
};

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int nargs = argc - 2;
  for (size_t i = 0; argc >= 2 && i < sizeof commands / sizeof commands[0]; i++) {
    if (strcmp(argv[1], commands[i].name)) continue;
    if (nargs < commands[i].min_args || nargs > commands[i].max_args) {
      fprintf(stderr, "usage: probe %s %s\n", commands[i].name, commands[i].args);
      return 2;
    }
    return commands[i].fn(argv + 2);
  }
  fprintf(stderr, "usage: probe SUBCOMMAND [ARGS...]\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(stderr, "  %s %s\n", commands[i].name, commands[i].args);
  return 2;
}
