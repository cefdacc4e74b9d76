// precision_helper: the task programs of bench/precision that neither python3 nor the static
// probe (tests/helpers/probe.c) provides: spinners on several threads, and memory hogs of shapes
// that reach the memory cgroup's limit by different kernel paths. bench/precision compiles it
// with cc (dynamically linked: ~20 KB, so each job carries it cheaply in `files`).
//
// Every hog grows without bound, so it must end in an OOM kill whatever the limit; a hog whose
// allocation fails in some other way exits 3, and a parent whose child did not end cleanly
// exits 1, so a task that survives an OOM of one of its processes never ends with code 0.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1024L * 1024L)

static void* spin(void* arg) {
  for (volatile unsigned long n = 0;; n++) {
  }
  return arg;
}

// Touches every page of [p, p+len) so it is charged now.
static void touch(char* p, long len) {
  for (long off = 0; off < len; off += 4096) p[off] = 1;
}

// Anonymous memory, one MiB at a time, touched, forever.
static void* heap_forever(void* arg) {
  for (;;) {
    char* p = malloc(MiB);
    if (!p) exit(3);
    touch(p, MiB);
  }
  return arg;
}

// Starts n-1 more copies of fn (threads) and runs fn itself.
static int on_threads(long n, void* (*fn)(void*)) {
  for (long i = 1; i < n; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, fn, NULL) != 0) return 3;
  }
  fn(NULL);
  return 0;
}

// Forks n children running fn; exits 1 as soon as one of them ends (they never end by
// themselves), 0 never.
static int on_children(long n, void* (*fn)(void*)) {
  for (long i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid < 0) return 3;
    if (pid == 0) {
      fn(NULL);
      _exit(0);
    }
  }
  int st;
  wait(&st);
  return 1;
}

// A file in a tmpfs (the task's /workspace, /dev/shm) or a memfd, written one MiB at a time until
// the write fails, then anonymous memory on top.
static int file_then_heap(int fd) {
  static char chunk[MiB];
  memset(chunk, 'f', sizeof chunk);
  if (fd < 0) return 3;
  while (write(fd, chunk, sizeof chunk) == (ssize_t)sizeof chunk) {
  }
  heap_forever(NULL);
  return 0;
}

// A shared mapping of a tmpfs file, grown and touched one MiB at a time (shmem pages charged at
// the page fault, not in write()). Stops growing before the file system is full, where a fault
// would be SIGBUS, and goes on with anonymous memory.
static int shm_mmap(const char* path, long max_mb) {
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return 3;
  for (long mb = 0; mb < max_mb; mb++) {
    if (ftruncate(fd, (mb + 1) * MiB) != 0) break;
    char* p = mmap(NULL, MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, mb * MiB);
    if (p == MAP_FAILED) return 3;
    touch(p, MiB);
  }
  heap_forever(NULL);
  return 0;
}

// One mmap(MAP_POPULATE) far bigger than any limit: the kernel faults it all in inside the call.
static int mmap_populate(long mb) {
  void* p = mmap(NULL, mb * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                 -1, 0);
  return p == MAP_FAILED ? 3 : 0;  // 0 only if the kernel gave it all: not an OOM, a bad test
}

// Page cache first (every file under DIR read once, then again), anonymous memory on top.
static int pagecache_then_heap(const char* list) {
  static char buf[1 << 16];
  FILE* f = fopen(list, "re");
  if (!f) return 3;
  char path[4096];
  while (fgets(path, sizeof path, f)) {
    path[strcspn(path, "\n")] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    while (read(fd, buf, sizeof buf) > 0) {
    }
    close(fd);
  }
  fclose(f);
  heap_forever(NULL);
  return 0;
}

// Kernel memory: pipes made as large as allowed and filled (their pages are charged to the
// cgroup but to no process's resident set), until the fds run out; anonymous memory on top.
static int pipes_then_heap(void) {
  static char chunk[1 << 16];
  memset(chunk, 'p', sizeof chunk);
  for (;;) {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) break;
    fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);  // refused past the per-user soft limit: keep going
    while (write(fds[1], chunk, sizeof chunk) > 0) {
    }
  }
  heap_forever(NULL);
  return 0;
}

// The other side of exactness: holds `mb` MiB of heap (every page touched), then writes files
// into /workspace until the disk is full. Exits 0 when it got ENOSPC and was never killed: the
// task held almost all its memory and all its disk at once.
static int hold_then_fill(long mb) {
  char* p = malloc((size_t)mb * MiB);
  if (!p) return 3;
  touch(p, mb * MiB);
  static char chunk[1 << 20];
  memset(chunk, 'd', sizeof chunk);
  int fd = open("/workspace/fill", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return 3;
  long total = 0;
  for (;;) {
    ssize_t w = write(fd, chunk, sizeof chunk);
    if (w > 0) {
      total += w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    printf("%s %ld MiB\n", w < 0 && errno == ENOSPC ? "ENOSPC" : "error", total / MiB);
    return w < 0 && errno == ENOSPC ? 0 : 3;
  }
}

int main(int argc, char** argv) {
  const char* cmd = argc > 1 ? argv[1] : "";
  long n = argc > 2 ? atol(argv[2]) : 1;
  if (!strcmp(cmd, "spin-threads")) return on_threads(n, spin);
  if (!strcmp(cmd, "spin-procs")) return on_children(n, spin);
  if (!strcmp(cmd, "heap")) return on_threads(1, heap_forever);
  if (!strcmp(cmd, "heap-threads")) return on_threads(n, heap_forever);
  if (!strcmp(cmd, "heap-procs")) return on_children(n, heap_forever);
  if (!strcmp(cmd, "tmpfs-then-heap"))
    return file_then_heap(open(argc > 2 ? argv[2] : "/workspace/fill",
                               O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!strcmp(cmd, "memfd")) return file_then_heap(memfd_create("hog", MFD_CLOEXEC));
  if (!strcmp(cmd, "shm-mmap")) return shm_mmap("/dev/shm/hog", n);
  if (!strcmp(cmd, "mmap-populate")) return mmap_populate(n);
  if (!strcmp(cmd, "pagecache-then-heap")) return pagecache_then_heap(argv[2]);
  if (!strcmp(cmd, "pipes-then-heap")) return pipes_then_heap();
  if (!strcmp(cmd, "hold-then-fill")) return hold_then_fill(n);
  fprintf(stderr,
          "usage: precision_helper spin-threads N | spin-procs N | heap | heap-threads N |\n"
          "  heap-procs N | tmpfs-then-heap [FILE] | memfd | shm-mmap MAX_MB | mmap-populate MB |\n"
          "  pagecache-then-heap LISTFILE | pipes-then-heap | hold-then-fill MB\n");
  return 2;
}
