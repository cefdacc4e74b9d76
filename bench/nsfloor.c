// bench/compare's contract floor: the isolation brood's contract asks for, at its cheapest.
// The floor of brood's contract: a zygote already in its user+net namespaces with its root built
// once; per task a fresh pid+mount+ipc+uts namespace, a fresh /proc and a tmpfs workspace, then
// execve. Modes: spawn (posix_spawn, no sandbox), zyg (per-task namespaces, the task is pid 1),
//        zyginit (per-task namespaces; pid 1 forks the task and waits, as brood's init does),
//        zygplain (no per-task namespaces: fork+exec in the zygote); zygv, zyginitv: the same with
//        clone(CLONE_VM|CLONE_VFORK) and vfork, as posix_spawn does.
// Usage: nsfloor MODE N J -- argv...   Prints tasks/s over J workers, N tasks each.
// Build: gcc -O2 -o nsfloor nsfloor.c
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;
static char** g_argv;
static const char* g_mode;
static void die(const char* m) {
  perror(m);
  _exit(99);
}

static void write_file(const char* p, const char* s) {
  int fd = open(p, O_WRONLY);
  if (fd < 0 || write(fd, s, strlen(s)) < 0) die(p);
  close(fd);
}

static void ro_bind(const char* src, const char* dst) {
  mkdir(dst, 0755);
  if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL)) die("bind");
  if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL))
    die("remount");
}

static void build_root(void) {
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) die("private");
  const char* r = "/tmp";
  if (mount("tmpfs", r, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0755")) die("tmpfs root");
  char p[256];
  snprintf(p, sizeof p, "%s/usr", r);
  ro_bind("/usr", p);
  snprintf(p, sizeof p, "%s/etc", r);
  ro_bind("/etc", p);
  snprintf(p, sizeof p, "%s/bin", r);
  symlink("usr/bin", p);
  snprintf(p, sizeof p, "%s/lib", r);
  symlink("usr/lib", p);
  snprintf(p, sizeof p, "%s/lib64", r);
  symlink("usr/lib64", p);
  snprintf(p, sizeof p, "%s/proc", r);
  mkdir(p, 0555);
  // a fully visible proc must exist in the mount namespace, or the kernel refuses a task's new proc
  if (mount("/proc", p, NULL, MS_BIND | MS_REC, NULL)) die("bind proc");
  snprintf(p, sizeof p, "%s/workspace", r);
  mkdir(p, 0777);
  snprintf(p, sizeof p, "%s/dev", r);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/dev/null", r);
  close(open(p, O_CREAT | O_WRONLY, 0666));
  if (mount("/dev/null", p, NULL, MS_BIND, NULL)) die("devnull");
  snprintf(p, sizeof p, "%s/old", r);
  mkdir(p, 0700);
  if (chdir(r)) die("chdir");
  if (syscall(SYS_pivot_root, ".", "old")) die("pivot");
  if (chroot(".")) die("chroot");
  if (umount2("/old", MNT_DETACH)) die("umount old");
  if (chdir("/")) die("chdir /");
}

static int task_fn(void* arg) {
  (void)arg;
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) die("proc");
  if (mount("tmpfs", "/workspace", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,nr_inodes=4096"))
    die("ws");
  if (chdir("/workspace")) die("cd ws");
  if (!strncmp(g_mode, "zyginit", 7)) {
    pid_t p = g_mode[7] == 'v' ? vfork() : fork();
    if (p == 0) {
      execve(g_argv[0], g_argv, environ);
      _exit(127);
    }
    int st;
    while (waitpid(p, &st, 0) < 0 && errno == EINTR) {
    }
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
  }
  execve(g_argv[0], g_argv, environ);
  _exit(127);
}

static char stack[1 << 16];

static void zygote(int req, int resp) {
  build_root();
  char c;
  while (read(req, &c, 1) == 1) {
    pid_t p;
    if (!strcmp(g_mode, "zygplain")) {
      p = fork();
      if (p == 0) {
        execve(g_argv[0], g_argv, environ);
        _exit(127);
      }
    } else {
      int vm = g_mode[strlen(g_mode) - 1] == 'v' ? CLONE_VM | CLONE_VFORK
                                                 : 0;  // zygv, zyginitv: share memory until execve
      p = clone(task_fn, stack + sizeof stack,
                vm | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD, NULL);
    }
    int st = 1;
    if (p > 0)
      while (waitpid(p, &st, 0) < 0 && errno == EINTR) {
      }
    char out = (p > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) ? 0 : 1;
    if (write(resp, &out, 1) != 1) _exit(1);
  }
  _exit(0);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int worker(int n) {
  int fails = 0;
  if (!strcmp(g_mode, "spawn")) {
    for (int i = 0; i < n; i++) {
      pid_t p;
      int st;
      if (posix_spawn(&p, g_argv[0], NULL, NULL, g_argv, environ)) {
        fails++;
        continue;
      }
      waitpid(p, &st, 0);
      fails += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    return fails;
  }
  int req[2], resp[2];
  if (pipe(req) || pipe(resp)) die("pipe");
  uid_t uid = getuid();
  gid_t gid = getgid();
  pid_t z = fork();
  if (z == 0) {
    close(req[1]);
    close(resp[0]);
    if (unshare(CLONE_NEWUSER | CLONE_NEWNET)) die("unshare");
    char m[64];
    write_file("/proc/self/setgroups", "deny");
    snprintf(m, sizeof m, "0 %d 1", uid);
    write_file("/proc/self/uid_map", m);
    snprintf(m, sizeof m, "0 %d 1", gid);
    write_file("/proc/self/gid_map", m);
    if (unshare(CLONE_NEWNS)) die("unshare ns");
    zygote(req[0], resp[1]);
  }
  close(req[0]);
  close(resp[1]);
  for (int i = 0; i < n; i++) {
    char c = 'x', out;
    if (write(req[1], &c, 1) != 1 || read(resp[0], &out, 1) != 1) die("zygote");
    fails += out != 0;
  }
  close(req[1]);
  waitpid(z, NULL, 0);
  return fails;
}

int main(int argc, char** argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: nsfloor MODE N J -- argv\n");
    return 2;
  }
  g_mode = argv[1];
  int n = atoi(argv[2]), j = atoi(argv[3]);
  g_argv = &argv[5];
  double t = now();
  int fails = 0;
  for (int k = 0; k < j; k++) {
    if (fork() == 0) _exit(worker(n) ? 1 : 0);
  }
  for (int k = 0; k < j; k++) {
    int st;
    wait(&st);
    fails += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  double w = now() - t;
  printf("%s tasks=%d workers=%d wall=%.2fs tasks_per_s=%.0f per_task_ms=%.3f failed_workers=%d\n",
         g_mode, n * j, j, w, n * j / w, w * 1000 * j / (n * j), fails);
  return 0;
}
