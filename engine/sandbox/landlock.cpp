#include "sandbox/landlock.hpp"

#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "sandbox/layout.hpp"

namespace brood::sandbox {
namespace {

// What Debian 12's uapi header (6.1, ABI 2) lacks.
constexpr uint64_t kTruncate = 1ULL << 14;          // ABI 3
constexpr uint64_t kIoctlDev = 1ULL << 15;          // ABI 5
constexpr uint64_t kScopeAbstractUnix = 1ULL << 0;  // ABI 6
constexpr uint64_t kScopeSignal = 1ULL << 1;        // ABI 6
constexpr uint32_t kLogSubdomainsOff = 1U << 2;     // ABI 7

struct RulesetAttr {  // landlock_ruleset_attr as of ABI 6
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};

constexpr uint64_t kRead = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
constexpr uint64_t kAbi2Fs = (LANDLOCK_ACCESS_FS_REFER << 1) - 1;  // every right up to REFER

uint64_t HandledFs(int abi) {
  uint64_t fs = kAbi2Fs;
  if (abi >= 3) fs |= kTruncate;
  if (abi >= 5) fs |= kIoctlDev;
  return fs;
}

// `r.dir` + `r.name` into `out` without allocating; false when it does not fit.
bool JoinPath(const LandlockRule& r, char* out, std::size_t size) {
  std::size_t n = 0;
  for (const char* part : {r.dir, r.name}) {
    for (const char* c = part; *c != 0; ++c) {
      if (n + 1 >= size) return false;
      out[n++] = *c;
    }
  }
  out[n] = 0;
  return true;
}

int AddRule(int ruleset, int fd, uint64_t access, uint64_t handled) {
  landlock_path_beneath_attr rule{};
  rule.allowed_access = access & handled;
  rule.parent_fd = fd;
  const long rc = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
  return rc == 0 ? 0 : errno;
}

int AddPath(int ruleset, const char* path, uint64_t access, uint64_t handled) {
  int fd = open(path, O_PATH | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : errno;  // a device the root does not have
  const int err = AddRule(ruleset, fd, access, handled);
  close(fd);
  return err;
}

// A row for one of the task's own directories (mounted per task, after the park).
bool IsTaskDir(const LandlockRule& r) {
  for (const char* d : kTaskDirs)
    if (std::string_view(r.dir) == d && r.name[0] == 0) return true;
  return false;
}

// Mounted anew for each task: its inode is not the zygote's.
bool IsPerTask(const LandlockRule& r) {
  const std::string_view dir = r.dir;
  return IsTaskDir(r) || ((dir == kProcDir || dir == kPtsDir) && r.name[0] == 0);
}

constexpr std::size_t kRules =
    1 + std::size(kSystemDirs) + 1 + std::size(kDevNodes) + 1 + std::size(kTaskDirs) + 1;
constexpr int kAbsent = -2;  // a path the root lacks
std::array<int, kRules> g_paths = [] {
  std::array<int, kRules> fds;
  fds.fill(-1);
  return fds;
}();

}  // namespace

int LandlockAbi() {
  static const int abi = [] {
    long v = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return v >= 2 ? static_cast<int>(v) : 0;
  }();
  return abi;
}

std::span<const LandlockRule> LandlockRules() {
  constexpr uint64_t kExec = LANDLOCK_ACCESS_FS_EXECUTE;
  constexpr uint64_t kDevice =
      LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE | kTruncate;
  // Everything on the task's own filesystem but creating device nodes.
  constexpr uint64_t kOwn = (kAbi2Fs | kTruncate | kIoctlDev) &
                            ~(LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_BLOCK);
  static constexpr auto table = [] {
    std::array<LandlockRule, kRules> t{};
    std::size_t i = 0;
    // Listing directories anywhere; reading files only where a rule below says so.
    t[i++] = {"/", "", LANDLOCK_ACCESS_FS_READ_DIR};
    for (const char* d : kSystemDirs) t[i++] = {"/", d, kRead | kExec};
    t[i++] = {"/", kEtcDir, kRead};
    for (const char* d : kDevNodes) {
      // The terminal takes ioctls (window size, job control); the others are plain streams.
      const bool tty = std::string_view(d) == "tty";
      t[i++] = {"/dev/", d, kDevice | (tty ? kIoctlDev : 0)};
    }
    t[i++] = {kPtsDir, "", kDevice | kIoctlDev};
    for (const char* d : kTaskDirs) t[i++] = {d, "", kOwn};
    t[i++] = {kProcDir, "", kRead};
    return t;
  }();
  return table;
}

int NewLandlockRuleset(int abi) noexcept {
  if (abi < 2) return -EINVAL;
  RulesetAttr attr{HandledFs(abi), 0, abi >= 6 ? kScopeAbstractUnix | kScopeSignal : 0};
  const size_t attr_size = abi >= 6 ? sizeof attr : sizeof(uint64_t);
  const long ruleset = syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
  return ruleset < 0 ? -errno : static_cast<int>(ruleset);
}

int AddLandlockRules(int ruleset, int abi, bool task_dirs, std::span<const int> paths) noexcept {
  const uint64_t handled = HandledFs(abi);
  const std::span<const LandlockRule> rules = LandlockRules();
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const LandlockRule& r = rules[i];
    if (IsTaskDir(r) != task_dirs) continue;
    if (i < paths.size() && paths[i] == kAbsent) continue;  // as AddPath's ENOENT
    if (i < paths.size() && paths[i] >= 0) {
      if (int err = AddRule(ruleset, paths[i], r.access, handled)) return err;
      continue;
    }
    char path[64];
    if (!JoinPath(r, path, sizeof path)) return ENAMETOOLONG;
    if (int err = AddPath(ruleset, path, r.access, handled)) return err;
  }
  return 0;
}

void OpenLandlockPaths() noexcept {
  const std::span<const LandlockRule> rules = LandlockRules();
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (IsPerTask(rules[i]) || g_paths[i] >= 0) continue;
    char path[64];
    if (!JoinPath(rules[i], path, sizeof path)) continue;
    g_paths[i] = open(path, O_PATH | O_CLOEXEC);
    if (g_paths[i] < 0 && errno == ENOENT) g_paths[i] = kAbsent;  // lib32, say
  }
}

std::span<const int> LandlockPaths() noexcept { return g_paths; }

void CloseLandlockPaths() noexcept {
  for (int fd : g_paths)
    if (fd >= 0) close(fd);
}

int RestrictLandlock(int ruleset, int abi) noexcept {
  // ABI 7 logs denials to the audit log; a domain the task makes inside ours is not logged.
  const uint32_t flags = abi >= 7 ? kLogSubdomainsOff : 0;
  const int err = syscall(SYS_landlock_restrict_self, ruleset, flags) == 0 ? 0 : errno;
  close(ruleset);
  return err;
}

int ApplyLandlock(int abi) noexcept {
  const int rs = NewLandlockRuleset(abi);
  if (rs < 0) return -rs;
  int err = AddLandlockRules(rs, abi, false);
  if (err == 0) err = AddLandlockRules(rs, abi, true);
  if (err != 0) {
    close(rs);
    return err;
  }
  return RestrictLandlock(rs, abi);
}

}  // namespace brood::sandbox
