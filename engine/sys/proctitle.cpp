#include "sys/proctitle.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace brood::sys {
namespace {
char* g_arg = nullptr;
size_t g_arg_len = 0;
}  // namespace

void ScrubProcessArea(const char* title) {
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = 0;
  // Fields after the ")" closing comm; arg_start..env_end are fields 48-51 (1-based).
  const char* p = strrchr(buf, ')');
  if (!p) return;
  unsigned long v[52] = {};
  int field = 2;
  for (p += 1; *p && field < 51;) {
    while (*p == ' ') ++p;
    ++field;
    v[field] = strtoul(p, const_cast<char**>(&p), 10);
    if (*p && *p != ' ') ++p;  // the state letter (field 3) is not a number
  }
  if (field < 51 || v[48] >= v[49] || v[50] > v[51]) return;
  g_arg = reinterpret_cast<char*>(v[48]);
  g_arg_len = v[49] - v[48];
  std::memset(reinterpret_cast<char*>(v[50]), 0, v[51] - v[50]);
  SetProcessTitle(title);
}

void SetProcessTitle(const char* title) {
  prctl(PR_SET_NAME, title);
  if (!g_arg || g_arg_len == 0) return;
  std::memset(g_arg, 0, g_arg_len);
  size_t len = strlen(title);
  std::memcpy(g_arg, title, len < g_arg_len - 1 ? len : g_arg_len - 1);
}

}  // namespace brood::sys
