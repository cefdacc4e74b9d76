// The gcc workload: a C program using what ordinary C programs use, each checked.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

static void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "FAIL: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (errno %d: %s)\n", errno, strerror(errno));
  va_end(ap);
  exit(1);
}
#define CHECK(cond, ...)           \
  do {                             \
    if (!(cond)) die(__VA_ARGS__); \
  } while (0)

enum { kThreads = 4, kPerThread = 100000 };
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long counter;
static int started;

static void* worker(void* arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  started++;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  char* buf = malloc(1 << 16);  // per-thread arena
  CHECK(buf, "malloc in thread");
  memset(buf, 1, 1 << 16);
  for (int i = 0; i < kPerThread; i++) {
    pthread_mutex_lock(&mu);
    counter += buf[i & 0xffff];
    pthread_mutex_unlock(&mu);
  }
  free(buf);
  return NULL;
}

static volatile sig_atomic_t got_usr1;
static void on_usr1(int sig) {
  (void)sig;
  got_usr1 = 1;
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) {  // the exec'd child
    printf("child says %s\n", argc > 2 ? argv[2] : "");
    return 7;
  }
  setvbuf(stdout, NULL, _IONBF, 0);

  // clocks
  struct timespec t0, t1, rt, cpu;
  CHECK(clock_gettime(CLOCK_MONOTONIC, &t0) == 0, "clock_gettime MONOTONIC");
  CHECK(clock_gettime(CLOCK_REALTIME, &rt) == 0 && rt.tv_sec > 1600000000,
        "clock_gettime REALTIME");
  CHECK(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu) == 0, "clock_gettime PROCESS_CPUTIME");
  CHECK(clock_gettime(CLOCK_BOOTTIME, &cpu) == 0, "clock_gettime BOOTTIME");
  struct timespec nap = {0, 2000000};
  CHECK(nanosleep(&nap, NULL) == 0, "nanosleep");
  CHECK(clock_nanosleep(CLOCK_MONOTONIC, 0, &nap, NULL) == 0, "clock_nanosleep");
  CHECK(clock_gettime(CLOCK_MONOTONIC, &t1) == 0, "clock_gettime");
  CHECK((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) >= 4000000,
        "clock did not advance");
  time_t now = time(NULL);
  struct tm tm;
  CHECK(localtime_r(&now, &tm) != NULL, "localtime_r");
  printf("clocks ok\n");

  // getrandom
  unsigned char rnd[64] = {0};
  CHECK(getrandom(rnd, sizeof rnd, 0) == (ssize_t)sizeof rnd, "getrandom");
  CHECK(getrandom(rnd, 16, GRND_NONBLOCK) == 16, "getrandom NONBLOCK");
  int nz = 0;
  for (size_t i = 0; i < sizeof rnd; i++) nz += rnd[i] != 0;
  CHECK(nz > 32, "getrandom gave zeros");
  CHECK(getentropy(rnd, 32) == 0, "getentropy");
  FILE* ur = fopen("/dev/urandom", "rb");
  CHECK(ur && fread(rnd, 1, 16, ur) == 16, "/dev/urandom");
  fclose(ur);
  printf("getrandom ok\n");

  // malloc: small, large (mmap), realloc growth, calloc, aligned
  size_t big = 64u << 20;
  char* p = malloc(big);
  CHECK(p, "malloc 64 MiB");
  memset(p, 0xab, big);
  p = realloc(p, big * 2);
  CHECK(p && (unsigned char)p[big - 1] == 0xab, "realloc");
  free(p);
  int* c = calloc(1 << 20, sizeof(int));
  CHECK(c && c[12345] == 0, "calloc");
  free(c);
  void* al;
  CHECK(posix_memalign(&al, 4096, 1 << 20) == 0, "posix_memalign");
  free(al);
  void* m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(m != MAP_FAILED, "mmap anon");
  CHECK(mprotect(m, 4096, PROT_READ) == 0, "mprotect");
  CHECK(mprotect(m, 4096, PROT_READ | PROT_WRITE) == 0, "mprotect back");
  CHECK(madvise(m, 1 << 20, MADV_DONTNEED) == 0, "madvise");
  m = mremap(m, 1 << 20, 2 << 20, MREMAP_MAYMOVE);
  CHECK(m != MAP_FAILED, "mremap");
  CHECK(munmap(m, 2 << 20) == 0, "munmap");
  printf("malloc ok\n");

  // threads
  pthread_t th[kThreads];
  for (int i = 0; i < kThreads; i++)
    CHECK(pthread_create(&th[i], NULL, worker, NULL) == 0, "pthread_create");
  pthread_mutex_lock(&mu);
  while (started < kThreads) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
  for (int i = 0; i < kThreads; i++) CHECK(pthread_join(th[i], NULL) == 0, "pthread_join");
  CHECK(counter == (long)kThreads * kPerThread, "threads counted %ld", counter);
  printf("threads ok\n");

  // file I/O: write, fsync, stat, read back, rename, directory listing, unlink, locks, mmap of a
  // file
  CHECK(mkdir("out", 0755) == 0 || errno == EEXIST, "mkdir");
  int fd = open("out/data.bin", O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644);
  CHECK(fd >= 0, "open for write");
  for (int i = 0; i < 256; i++) {
    char line[64];
    int n = snprintf(line, sizeof line, "line %d\n", i);
    CHECK(write(fd, line, n) == n, "write");
  }
  CHECK(fsync(fd) == 0, "fsync");
  CHECK(fdatasync(fd) == 0, "fdatasync");
  CHECK(flock(fd, LOCK_EX) == 0, "flock");
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
  CHECK(fcntl(fd, F_SETLK, &fl) == 0, "fcntl F_SETLK");
  CHECK(posix_fallocate(fd, 0, 1 << 16) == 0, "posix_fallocate");
  CHECK(ftruncate(fd, 2000) == 0, "ftruncate");
  struct stat st;
  CHECK(fstat(fd, &st) == 0 && st.st_size == 2000, "fstat");
  char* fm = mmap(NULL, 2000, PROT_READ, MAP_SHARED, fd, 0);
  CHECK(fm != MAP_FAILED && memcmp(fm, "line 0\n", 7) == 0, "mmap file");
  munmap(fm, 2000);
  char rbuf[16] = {0};
  CHECK(pread(fd, rbuf, 7, 7) == 7 && memcmp(rbuf, "line 1\n", 7) == 0, "pread");
  close(fd);
  CHECK(rename("out/data.bin", "out/renamed.bin") == 0, "rename");
  CHECK(link("out/renamed.bin", "out/hard") == 0, "link");
  CHECK(symlink("renamed.bin", "out/soft") == 0, "symlink");
  char lbuf[64] = {0};
  CHECK(readlink("out/soft", lbuf, sizeof lbuf) == 11, "readlink");
  CHECK(chmod("out/renamed.bin", 0600) == 0, "chmod");
  struct timespec times[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
  CHECK(utimensat(AT_FDCWD, "out/renamed.bin", times, 0) == 0, "utimensat");
  FILE* f = fopen("out/soft", "r");
  CHECK(f, "fopen via symlink");
  int lines = 0;
  char lb[64];
  while (fgets(lb, sizeof lb, f)) lines++;
  fclose(f);
  CHECK(lines > 200, "read back %d lines", lines);
  DIR* d = opendir("out");
  CHECK(d, "opendir");
  int entries = 0;
  struct dirent* de;
  while ((de = readdir(d))) entries += de->d_name[0] != '.';
  closedir(d);
  CHECK(entries == 3, "readdir saw %d", entries);
  CHECK(unlink("out/hard") == 0 && unlink("out/soft") == 0, "unlink");
  char tmpl[] = "/tmp/wl-XXXXXX";
  int tfd = mkstemp(tmpl);
  CHECK(tfd >= 0, "mkstemp");
  close(tfd);
  CHECK(unlink(tmpl) == 0, "unlink tmp");
  char cwd[256];
  CHECK(getcwd(cwd, sizeof cwd) && strcmp(cwd, "/workspace") == 0, "getcwd %s", cwd);
  printf("file io ok\n");

  // fork + exec of a child, waitpid; posix_spawn; a pipe between them
  int pfd[2];
  CHECK(pipe2(pfd, O_CLOEXEC) == 0, "pipe2");
  pid_t pid = fork();
  CHECK(pid >= 0, "fork");
  if (pid == 0) {
    dup2(pfd[1], 1);
    execl("/proc/self/exe", argv[0], "child", "hello", (char*)NULL);
    _exit(127);
  }
  close(pfd[1]);
  char cbuf[128] = {0};
  ssize_t got = 0, r;
  while ((r = read(pfd[0], cbuf + got, sizeof cbuf - 1 - got)) > 0) got += r;
  close(pfd[0]);
  int status;
  CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7, "child status %d", status);
  CHECK(strcmp(cbuf, "child says hello\n") == 0, "child said '%s'", cbuf);
  pid_t sp;
  char* sargv[] = {"/bin/sh", "-c", "exit 3", NULL};
  CHECK(posix_spawn(&sp, "/bin/sh", NULL, NULL, sargv, environ) == 0, "posix_spawn");
  CHECK(waitpid(sp, &status, 0) == sp && WEXITSTATUS(status) == 3, "posix_spawn status");
  CHECK(system("test -d /workspace/out") == 0, "system()");
  FILE* pp = popen("echo popen-ok", "r");
  CHECK(pp && fgets(cbuf, sizeof cbuf, pp) && strcmp(cbuf, "popen-ok\n") == 0, "popen");
  CHECK(pclose(pp) == 0, "pclose");
  pid = vfork();
  if (pid == 0) _exit(5);
  CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WEXITSTATUS(status) == 5, "vfork");
  printf("fork exec ok\n");

  // signals, timers, event loops
  struct sigaction sa = {.sa_handler = on_usr1};
  CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
  CHECK(kill(getpid(), SIGUSR1) == 0 && got_usr1, "kill self");
  got_usr1 = 0;
  CHECK(raise(SIGUSR1) == 0 && got_usr1, "raise");
  int efd = epoll_create1(EPOLL_CLOEXEC);
  CHECK(efd >= 0, "epoll_create1");
  int evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  CHECK(evfd >= 0, "eventfd");
  int tmfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  CHECK(tmfd >= 0, "timerfd_create");
  struct itimerspec its = {.it_value = {0, 5000000}};
  CHECK(timerfd_settime(tmfd, 0, &its, NULL) == 0, "timerfd_settime");
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = tmfd};
  CHECK(epoll_ctl(efd, EPOLL_CTL_ADD, tmfd, &ev) == 0, "epoll_ctl");
  struct epoll_event out;
  CHECK(epoll_wait(efd, &out, 1, 2000) == 1 && out.data.fd == tmfd, "epoll_wait timerfd");
  uint64_t one = 1;
  CHECK(write(evfd, &one, 8) == 8, "eventfd write");
  struct pollfd pl = {.fd = evfd, .events = POLLIN};
  CHECK(poll(&pl, 1, 1000) == 1, "poll eventfd");
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
  CHECK(send(sv[0], "x", 1, 0) == 1 && recv(sv[1], cbuf, 1, 0) == 1, "socketpair io");
  int ino = inotify_init1(IN_CLOEXEC);
  CHECK(ino >= 0 && inotify_add_watch(ino, "out", IN_CREATE) >= 0, "inotify");
  int mfd = memfd_create("wl", MFD_CLOEXEC);
  CHECK(mfd >= 0 && ftruncate(mfd, 4096) == 0, "memfd_create");
  printf("events ok\n");

  // process facts
  struct utsname un;
  CHECK(uname(&un) == 0, "uname");
  struct rlimit rl;
  CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit");
  CHECK(prlimit(0, RLIMIT_CORE, NULL, &rl) == 0, "prlimit");
  cpu_set_t set;
  CHECK(sched_getaffinity(0, sizeof set, &set) == 0, "sched_getaffinity");
  CHECK(sysconf(_SC_NPROCESSORS_ONLN) >= 1, "nprocs");
  CHECK(prctl(PR_SET_NAME, "wl-gcc") == 0, "prctl PR_SET_NAME");
  struct rusage ru;
  CHECK(getrusage(RUSAGE_SELF, &ru) == 0, "getrusage");
  CHECK(sched_yield() == 0, "sched_yield");
  printf("process ok\n");
  return 0;
}
