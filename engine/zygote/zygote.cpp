#include "zygote/zygote.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "sandbox/landlock.hpp"
#include "sandbox/root.hpp"
#include "sandbox/task.hpp"
#include "sys/file.hpp"
#include "zygote/parker.hpp"
#include "zygote/wire.hpp"

namespace brood::zygote {
namespace {

constexpr uint32_t kConfigMagic = 0x7a79676f;  // "zygo"

void Reply(int sock, ZygoteMsg kind, const sys::Status& error, std::span<const int> fds = {}) {
  WireWriter w;
  w.U32(static_cast<uint32_t>(kind));
  w.Err(error);
  (void)SendMessage(sock, w.bytes(), fds);
}

sys::Status Prepare(const ZygoteConfig& config) {
  if (config.network_none) {
    if (unshare(CLONE_NEWNET) != 0) return sys::PosixError("unshare(CLONE_NEWNET)");
    BROOD_RETURN_IF_ERROR(sandbox::BringLoopbackUp());
  }
  if (unshare(CLONE_NEWNS) != 0) return sys::PosixError("unshare(CLONE_NEWNS)");
  // Files the zygote creates in the new root belong to the sandbox user: the zygote's own host
  // uid is not mapped in its namespace (root case), and the kernel refuses unmapped owners.
  setfsgid(sandbox::kSandboxGid);
  setfsuid(sandbox::kSandboxUid);
  BROOD_RETURN_IF_ERROR(sandbox::BuildAndPivotRoot({config.system_root}));
  if (int err = sandbox::DropBoundingSet()) return sys::PosixError("PR_CAPBSET_DROP", err);
  if (sandbox::LandlockAbi() > 0) sandbox::OpenLandlockPaths();
  return sys::OkStatus();
}

// Puts the slot's workspace disk on /tmp of the zygote's root, in place of the one before.
sys::Status HoldWorkspace(int mount_fd) {
  static bool holding = false;
  if (holding && umount2("/tmp", MNT_DETACH) != 0) return sys::PosixError("umount2(/tmp)");
  holding = false;
  if (syscall(SYS_move_mount, mount_fd, "", AT_FDCWD, "/tmp", MOVE_MOUNT_F_EMPTY_PATH) != 0)
    return sys::PosixError("move_mount(workspace disk, /tmp)");
  holding = true;
  return sys::OkStatus();
}

// The zygote's parked init: one at most, the next task's.
class Parking {
 public:
  Parking(const ZygoteFds& zfds, const sandbox::SeccompProgram& seccomp) : seccomp_(seccomp) {
    slot_.task_cgroup = zfds.task_cgroup;
    slot_.task_procs_extra[0] = zfds.task_procs_extra[0];
    slot_.task_procs_extra[1] = zfds.task_procs_extra[1];
    slot_.clone_into_cgroup = zfds.clone_into;
    slot_.memory_stat = zfds.task_memory_stat;
  }
  // Parks an init through a parker (parker.hpp), or forks one where no parker can.
  sys::Status Park() {
    if (parked_) return sys::OkStatus();
    auto p = ParkShared();
    if (!p.ok()) p = sandbox::ParkInit(slot_, seccomp_);
    if (!p.ok()) return p.status();
    parked_ = std::move(p.value());
    return sys::OkStatus();
  }
  // Ends the parked init and waits (bounded) until it is gone: one whose namespace is out of
  // date (a new workspace disk), or the zygote's own before it exits, so that no parked init
  // ever outlives its zygote as an orphan. Its socket closed, it exits by itself (and its parker
  // lives on); SIGKILL only if it has not within 2 s.
  void Drop() {
    if (!parked_) return;
    parked_->sock.reset();
    if (!WaitGone(parked_->pidfd.get())) {
      syscall(SYS_pidfd_send_signal, parked_->pidfd.get(), SIGKILL, nullptr, 0);
      WaitGone(parked_->pidfd.get());
    }
    parked_.reset();
  }
  // The zygote's end: its parked init, then its parkers.
  void End() {
    Drop();
    for (Parker& p : parkers_) p.End();
    parkers_.clear();
  }
  // Until the init last handed a task has started its main process (it closes its socket), or a
  // request comes on `sock`, or 100 ms have passed: parking the next init meanwhile would take
  // CPU from that task's setup and slow its cgroup migration.
  void WaitHandedOff(int sock) {
    if (!handed_) return;
    pollfd p[2] = {{handed_.get(), POLLIN, 0}, {sock, POLLIN, 0}};
    while (poll(p, 2, 100) < 0 && errno == EINTR) {
    }
    handed_.reset();
  }
  // Hands `task` to the parked init (parking one first if there is none, or another if the one
  // there died) and gives up the init's pidfd for the supervisor.
  sys::StatusOr<sys::UniqueFd> Start(int spec_fd, const sandbox::TaskFds& task) {
    for (int attempt = 0;; ++attempt) {
      BROOD_RETURN_IF_ERROR(Park());
      const int err = sandbox::HandOver(*parked_, spec_fd, task);
      if (err == 0) {
        sys::UniqueFd pidfd = std::move(parked_->pidfd);
        handed_ = std::move(parked_->sock);
        parked_.reset();
        return pidfd;
      }
      Drop();
      if (attempt == 1) return sys::PosixError("handing the task to its init", err);
    }
  }

 private:
  sandbox::TaskFds slot_;
  const sandbox::SeccompProgram& seccomp_;
  std::optional<sandbox::ParkedInit> parked_;
  sys::UniqueFd handed_;  // the socket of the init last handed a task
  std::vector<Parker> parkers_;

  static bool WaitGone(int pidfd) {
    pollfd gone = {pidfd, POLLIN, 0};
    int n;
    while ((n = poll(&gone, 1, 2000)) < 0 && errno == EINTR) {
    }
    return n > 0;
  }

  // A free parker parks the init (one is made while there are fewer than kMaxParkers); a parker
  // that fails is dropped and the next one tried.
  sys::StatusOr<sandbox::ParkedInit> ParkShared() {
    sys::Status last = sys::Status::Error("every parker is busy");
    for (size_t attempt = 0; attempt < 2 * kMaxParkers; ++attempt) {
      auto free =
          std::find_if(parkers_.begin(), parkers_.end(), [](const Parker& p) { return p.Free(); });
      if (free == parkers_.end()) {
        if (parkers_.size() >= kMaxParkers) return last;
        auto made = Parker::Start(slot_, seccomp_);
        if (!made.ok()) return made.status();
        parkers_.push_back(std::move(made.value()));
        free = parkers_.end() - 1;
      }
      auto init = free->Park();
      if (init.ok()) return init;
      last = init.status();
      parkers_.erase(free);
    }
    return last;
  }
};

// Closes the fds a request brought: they arrive together, so usually one close_range for all
// of a RUN's instead of one close each.
void CloseFds(std::vector<sys::UniqueFd>& fds) {
  std::vector<int> n;
  for (sys::UniqueFd& fd : fds)
    if (fd) n.push_back(fd.release());
  sys::CloseRuns(n);
}

void HandleRun(int sock, Message& m, Parking& parking) {
  WireReader r(m.bytes);
  r.U32();  // kind
  uint32_t has_stdin = r.U32();
  uint32_t has_collect = r.U32();
  uint32_t has_workspace = r.U32();
  uint32_t has_session = r.U32();
  size_t want =
      4 + (has_stdin != 0) + (has_collect != 0) + (has_workspace != 0) + (has_session != 0);
  if (!r.done() || m.fds.size() != want) {
    Reply(sock, ZygoteMsg::kStarted, sys::Status::Error("zygote: malformed RUN request"));
    return;
  }
  // The spec itself is read and checked once, by the init it is handed to (a malformed one is
  // its setup error, stage "reading the task spec").
  sandbox::TaskFds fds;
  fds.stdout_fd = m.fds[1].get();
  fds.stderr_fd = m.fds[2].get();
  fds.report_fd = m.fds[3].get();
  fds.stdin_fd = has_stdin ? m.fds[4].get() : -1;
  fds.collect_fd = has_collect ? m.fds[4 + (has_stdin != 0)].get() : -1;
  fds.session_sock = has_session ? m.fds[want - 1].get() : -1;
  const size_t workspace_at = want - 1 - (has_session != 0);
  if (has_workspace) {
    parking.Drop();  // its copy of the zygote's mounts has the disk before this one
    if (sys::Status st = HoldWorkspace(m.fds[workspace_at].get()); !st.ok()) {
      Reply(sock, ZygoteMsg::kStarted, st.Wrap("zygote"));
      return;
    }
  }
  auto started = parking.Start(m.fds[0].get(), fds);
  if (!started.ok()) {
    Reply(sock, ZygoteMsg::kStarted, started.status().Wrap("zygote"));
    return;
  }
  int pidfd = started->get();
  Reply(sock, ZygoteMsg::kStarted, sys::OkStatus(), std::span<const int>(&pidfd, 1));
}

}  // namespace

std::string EncodeZygoteConfig(const ZygoteConfig& c) {
  WireWriter w;
  w.U32(kConfigMagic);
  w.U32(c.network_none);
  w.Str(c.system_root);
  w.U32(c.host_uid);
  w.U32(c.host_gid);
  w.Strs(c.cgroup_procs);
  w.Str(c.task_cgroup);
  w.Strs(c.task_procs_extra);
  w.U32(c.task_clone_into);
  w.Str(c.task_memory_stat);
  return std::move(w.bytes());
}

std::optional<ZygoteConfig> DecodeZygoteConfig(std::string_view bytes) {
  WireReader r(bytes);
  if (r.U32() != kConfigMagic) return std::nullopt;
  ZygoteConfig c;
  c.network_none = r.U32() != 0;
  c.system_root = r.Str();
  c.host_uid = r.U32();
  c.host_gid = r.U32();
  c.cgroup_procs = r.Strs();
  c.task_cgroup = r.Str();
  c.task_procs_extra = r.Strs();
  c.task_clone_into = r.U32() != 0;
  c.task_memory_stat = r.Str();
  if (!r.done() || c.system_root.empty() || c.system_root[0] != '/') return std::nullopt;
  // Extra leaves only on v1, beside the memory leaf: ZygoteFds has room for two.
  if (c.task_procs_extra.size() > 2 ||
      (!c.task_procs_extra.empty() && (c.task_cgroup.empty() || c.task_clone_into)))
    return std::nullopt;
  for (const std::string& p : c.task_procs_extra)
    if (p.empty() || p[0] != '/') return std::nullopt;
  return c;
}

sys::StatusOr<sys::UniqueFd> RunInZygote(const ZygoteHandle& z, const RunFds& f) {
  WireWriter w;
  w.U32(static_cast<uint32_t>(ZygoteMsg::kRun));
  w.U32(f.stdin_fd.valid());
  w.U32(f.collect_fd.valid());
  w.U32(f.workspace_mount.valid());
  w.U32(f.session_sock.valid());
  int fds[8] = {f.spec_memfd.get(), f.stdout_fd.get(), f.stderr_fd.get(), f.report_fd.get()};
  size_t n = 4;
  for (sys::BorrowedFd extra : {f.stdin_fd, f.collect_fd, f.workspace_mount, f.session_sock})
    if (extra.valid()) fds[n++] = extra.get();
  BROOD_RETURN_IF_ERROR(SendMessage(z.sock, w.bytes(), std::span<const int>(fds, n)));
  auto reply = ReceiveMessage(z.sock);
  if (!reply.ok()) return reply.status().Wrap("zygote");
  WireReader r(reply->bytes);
  uint32_t kind = r.U32();
  sys::Status error = r.Err();
  if (reply->bytes.empty()) return sys::Status::Error("zygote exited before starting the task");
  if (!r.done() || kind != static_cast<uint32_t>(ZygoteMsg::kStarted))
    return sys::Status::Error("zygote: malformed reply");
  if (!error.ok()) return error;
  if (reply->fds.size() != 1) return sys::Status::Error("zygote: reply without pidfd");
  return std::move(reply->fds[0]);
}

[[noreturn]] void ZygoteMain(const ZygoteConfig& config, const ZygoteFds& fds, int sock, int joined,
                             const sandbox::SeccompProgram& seccomp) {
  sys::Status st = Prepare(config);
  if (!st.ok()) {
    Reply(sock, ZygoteMsg::kReady, st);
    _exit(1);
  }
  char c = 0;
  if (read(joined, &c, 1) != 1 || c != 'c') _exit(1);  // the hatchery reports the failure
  close(joined);
  prctl(PR_SET_DUMPABLE, 0);
  Reply(sock, ZygoteMsg::kReady, sys::OkStatus());
  Parking parking(fds, seccomp);
  int served = 0;
  for (;;) {
    // The next task's init is parked between requests, once the last request's fds are closed
    // (a parked init keeps what the zygote had open). A failure here is retried at the next RUN,
    // which then reports it. Not before the first request: that one usually brings the slot's
    // workspace disk, which an init parked before it would not have; nor after it: a zygote
    // that served one task may be a one-shot `brood exec`'s, which would only wait at its exit
    // for an init it never used. From the third task on, every task finds its init parked.
    if (served >= 1) parking.WaitHandedOff(sock);
    if (served >= 2) (void)parking.Park();
    ++served;
    auto m = ReceiveMessage(sock);
    if (!m.ok() || (m->bytes.empty() && m->fds.empty())) {
      parking.End();
      _exit(0);
    }
    WireReader r(m->bytes);
    if (r.U32() == static_cast<uint32_t>(ZygoteMsg::kRun))
      HandleRun(sock, *m, parking);
    else
      Reply(sock, ZygoteMsg::kStarted, sys::Status::Error("zygote: unknown request"));
    CloseFds(m->fds);
  }
}

}  // namespace brood::zygote
