#include "support/host_probe.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "sandbox/landlock.hpp"
#include "workspace/disk.hpp"

extern char** environ;

namespace brood::testing {
namespace {

// Runs the static probe with `args` as a plain child (no sandbox); its stdout and wait status.
bool RunProbe(std::vector<std::string> args, std::string* out, int* status, std::string* error) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    *error = std::string("pipe2: ") + strerror(errno);
    return false;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  args.insert(args.begin(), BROOD_PROBE);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, BROOD_PROBE, &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    *error = std::string("posix_spawn " BROOD_PROBE ": ") + strerror(rc);
    return false;
  }
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
  }
  return true;
}

Int80Behavior ProbeInt80() {
  Int80Behavior b;
  std::string out, error;
  int status = 0;
  if (!RunProbe({"int80"}, &out, &status, &error)) {
    b.what = "could not run the int80 probe: " + error;
    return b;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && out == "survived\n") {
    b.enters_kernel = true;
    b.what =
        "int 0x80 enters the kernel on this host (getpid through it returned, outside any "
        "sandbox)";
  } else if (WIFSIGNALED(status)) {
    b.signal = WTERMSIG(status);
    b.what =
        "int 0x80 faults on this host before any system call entry: outside any sandbox "
        "the probe died of signal " +
        std::to_string(b.signal) + " (SIG" +
        (sigabbrev_np(b.signal) ? sigabbrev_np(b.signal) : "?") +
        "), so seccomp never sees it (ia32 emulation off)";
  } else {
    b.what =
        "the int80 probe, outside any sandbox, neither returned nor died of a signal "
        "(wait status " +
        std::to_string(status) + ", stdout '" + out + "')";
  }
  return b;
}

}  // namespace

const Int80Behavior& Int80OnThisHost() {
  static const Int80Behavior b = ProbeInt80();  // thread-safe, once per binary
  return b;
}

bool IsHostProperty(const std::string& property) {
  return property == "int80-enters-kernel" || property == "workspace-disks" ||
         property == "landlock" || property == "landlock-scopes" ||
         (property.rfind("host-has:/", 0) == 0 && property.size() > 10);
}

std::optional<bool> HostHas(const std::string& property, std::string* why) {
  if (!IsHostProperty(property)) return std::nullopt;
  if (property == "int80-enters-kernel") {
    *why = Int80OnThisHost().what;
    return Int80OnThisHost().enters_kernel;
  }
  if (property == "landlock" || property == "landlock-scopes") {
    const int abi = sandbox::LandlockAbi(), need = property == "landlock" ? 2 : 6;
    *why = "Landlock ABI " + std::to_string(abi) + " here (" + property + " needs " +
           std::to_string(need) + ")";
    return abi >= need;
  }
  if (property == "workspace-disks") {
    *why = workspace::Unavailable({});
    if (why->empty()) *why = "brood makes workspace disks here (ext4 on loop devices)";
    return workspace::Unavailable({}).empty();
  }
  std::string path = property.substr(9);
  struct stat st;
  bool has = stat(path.c_str(), &st) == 0;
  *why = path + (has ? " is on this host" : " is not on this host (nor so in the sandbox)");
  return has;
}

}  // namespace brood::testing
