#include "sandbox/task_spec.hpp"

#include "zygote/wire.hpp"

namespace brood::sandbox {

namespace {
constexpr uint32_t kSpecMagic = 0x62726f31;  // "bro1"
}

std::string EncodeTaskSpec(const TaskSpec& s) {
  zygote::WireWriter w;
  w.U32(kSpecMagic);
  w.Strs(s.argv);
  w.Strs(s.envp);
  w.Str(s.cwd);
  w.Map(s.files);
  w.Strs(s.collect);
  w.U32(s.has_stdin);
  w.I64(s.disk_mb);
  w.I64(static_cast<int64_t>(s.disk_inodes));
  w.I64(s.memory_mb);
  w.I64(s.cpu_ms);
  w.I64(s.pids);
  w.U32(s.rlimit_mode);
  w.U32(s.workspace_disk);
  w.U32(static_cast<uint32_t>(s.landlock_abi));
  w.U32(s.session);
  w.U32(s.snapshot);
  return std::move(w.bytes());
}

std::optional<TaskSpec> DecodeTaskSpec(std::string_view bytes) {
  zygote::WireReader r(bytes);
  if (r.U32() != kSpecMagic) return std::nullopt;
  TaskSpec s;
  s.argv = r.Strs();
  s.envp = r.Strs();
  s.cwd = r.Str();
  s.files = r.Map();
  s.collect = r.Strs();
  s.has_stdin = r.U32() != 0;
  s.disk_mb = r.I64();
  s.disk_inodes = static_cast<uint64_t>(r.I64());
  s.memory_mb = r.I64();
  s.cpu_ms = r.I64();
  s.pids = r.I64();
  s.rlimit_mode = r.U32() != 0;
  s.workspace_disk = r.U32() != 0;
  s.landlock_abi = static_cast<int>(r.U32());
  s.session = r.U32() != 0;
  s.snapshot = r.U32() != 0;
  if (!r.done() || s.argv.empty() != s.session || s.cwd.empty() || s.cwd[0] != '/' ||
      s.disk_mb <= 0 || s.memory_mb <= 0 || s.cpu_ms <= 0 || s.pids <= 0)
    return std::nullopt;
  return s;
}

const char* StageName(Stage s) {
  switch (s) {
    case Stage::kNone:
      return "none";
    case Stage::kHostname:
      return "sethostname";
    case Stage::kMountProc:
      return "mount /proc";
    case Stage::kMountWorkspace:
      return "mount workspace tmpfs";
    case Stage::kMountDevpts:
      return "mount /dev/pts";
    case Stage::kFork:
      return "fork task";
    case Stage::kSession:
      return "setsid";
    case Stage::kRlimits:
      return "setrlimit";
    case Stage::kSetIds:
      return "set sandbox uid/gid";
    case Stage::kFiles:
      return "write files";
    case Stage::kChdir:
      return "chdir cwd";
    case Stage::kCaps:
      return "drop capabilities";
    case Stage::kNoNewPrivs:
      return "no_new_privs";
    case Stage::kSeccomp:
      return "load seccomp";
    case Stage::kCgroup:
      return "joining the task's cgroup";
    case Stage::kLandlock:
      return "landlock";
    case Stage::kSpec:
      return "reading the task spec";
    case Stage::kStdio:
      return "stdio";
  }
  return "?";
}

}  // namespace brood::sandbox
