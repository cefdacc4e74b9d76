// The engine's side of a session (brood/session.hpp): what it holds of the host and how it talks
// to the session's init (sandbox/session_init.hpp).
//
// A session has a sandbox user, a cgroup group and a workspace disk of its own (never a slot's:
// sessions live long and must not take the slots one-shot tasks run on), and a zygote of its
// own, whose one init is the session's pid 1. Each command runs in a cgroup leaf of its own
// below the group's task leaf (cgroup::Leaf), made ahead of the command: the session's limits
// hold over all of them, and a command past its wall or CPU limit is killed with everything it
// started. Commands are run and watched, one at a time, by the session's watch thread (WatchLoop,
// exec.cpp) from their start to their result; output its leftover processes write afterwards is
// drained by the session's init.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "brood/engine.hpp"
#include "brood/session.hpp"
#include "cgroup/cgroup.hpp"
#include "sandbox/session_init.hpp"
#include "sandbox/task_spec.hpp"
#include "sys/fd.hpp"
#include "sys/process.hpp"
#include "workspace/disk.hpp"
#include "zygote/hatchery.hpp"
#include "zygote/zygote.hpp"

namespace brood::session {

// What the engine lends its sessions; outlives them (the engine closes every session first).
struct Host {
  zygote::Hatchery* hatchery = nullptr;
  cgroup::Tree* tree = nullptr;  // null: rlimits stand in (no cgroups)
  std::map<std::string, std::string> roots;
  workspace::DiskOptions disk_opts;
  bool use_disk = true;  // workspace disks (else a tmpfs that counts against memory_mb)
  int landlock = 0;
  Enforcement enforcement = Enforcement::kCgroup;
  // --on-violation kill|log: the session's init watches each command's seccomp listener, and a
  // command's result names its denied calls.
  bool watch_denied = false;
};

// Which sandbox user and cgroup name a session gets.
struct Seat {
  int index = 0;
  uint32_t host_uid = 0, host_gid = 0;
  std::string group_name;
};

class SessionImpl final : public Session {
 public:
  // Makes the session's group, disk, zygote and init; blocks until the init is ready.
  static std::unique_ptr<SessionImpl> Create(const Host& host, const Seat& seat,
                                             const SessionOptions& options,
                                             std::function<void()> on_gone, SessionError* error);
  ~SessionImpl() override;

  bool Start(ExecOptions exec, std::function<void(Result)> on_result, SessionError* error) override;
  void CancelExec() override;
  bool WriteFile(const std::string& path, const std::string& bytes, SessionError* error) override;
  bool ReadFile(const std::string& path, uint64_t max_bytes, std::string* bytes,
                SessionError* error) override;
  SessionUsage Usage() override;
  std::string EndedReason() override;
  std::string EndedReasonSeen() override;
  void Close(const std::string& reason) override;

 private:
  SessionImpl(const Host& host, const Seat& seat, const SessionOptions& options)
      : host_(host), seat_(seat), options_(options) {}
  sys::Status Begin();  // Create's work
  // The spec fields every process of the session shares (its limits, disk, Landlock).
  sandbox::TaskSpec BaseSpec(const Limits& limits) const;
  // One request to the init and its reply (fds sent with it stay the caller's).
  sys::StatusOr<sandbox::SessionReply> Ask(const sandbox::SessionRequest& req,
                                           std::span<const int> fds);
  bool FileCall(sandbox::SessionOp op, const std::string& path, int memfd, uint64_t max_bytes,
                SessionError* error);
  // Ends the session if its processes together hit the memory or pids limit: from `read`, the
  // group's usage just read, or else read here. Under mu_.
  void CheckLimitsLocked(const cgroup::Usage* read = nullptr);
  // The session limit its group's usage shows hit: "memory" (an OOM kill), "pids" (a refused
  // fork) or "" (neither). Under mu_; "" without a group.
  std::string LimitHitLocked(const cgroup::Usage* read = nullptr);
  // Everything of the session gone; `reason` kept. Under mu_; never joins the watch thread (Close
  // does).
  void TearDownLocked(const std::string& reason);
  void RunExec(ExecOptions exec, std::function<void(Result)> on_result);  // exec.cpp
  void WatchLoop();  // the watch thread: runs each queued command (exec.cpp)
  // A command's cgroup leaf and the fds its main process joins it through (opened by root: v1
  // checks the opener), made ahead, off the command's critical path.
  struct ReadyLeaf {
    std::unique_ptr<cgroup::Leaf> leaf;  // null without cgroups
    std::vector<sys::UniqueFd> joins;
    bool clone_into = false;
  };
  sys::StatusOr<ReadyLeaf> NewLeaf();

  Host host_;
  Seat seat_;
  SessionOptions options_;  // limits resolved
  std::function<void()> on_gone_;

  std::mutex mu_;  // guards everything below but sock_ (ask_mu_)
  std::unique_ptr<cgroup::Group> group_;
  std::unique_ptr<workspace::Disk> disk_;
  zygote::ZygoteHandle zygote_;
  sys::Process init_;
  std::string ended_;     // "" while running
  bool running_ = false;  // a command is started and has no result yet
  bool closing_ = false;  // Close has begun: no new command
  // The commands started and not yet done with (their result given); Close waits until none is
  // left. Each is watched by the session's watch thread (WatchLoop), made at the first Start and
  // ended by Close: a thread per command would cost its creation on every command's path.
  int watchers_ = 0;
  std::condition_variable watchers_gone_;
  struct Queued {
    ExecOptions exec;
    std::function<void(Result)> on_result;
  };
  std::optional<Queued> queued_;  // the command Start handed to the watch thread
  std::condition_variable queued_ready_;
  bool watch_stop_ = false;
  std::thread watch_thread_;
  sys::UniqueFd cancel_;  // eventfd: wakes the watch thread to kill its command
  ReadyLeaf next_leaf_;
  std::vector<std::unique_ptr<cgroup::Leaf>> left_;  // leaves with leftover processes
  uint64_t execs_ = 0;

  std::mutex seen_mu_;  // held only to copy seen_: never while waiting
  std::string seen_;    // ended_, once set (EndedReasonSeen)

  std::mutex ask_mu_;  // one request at a time on the socket
  sys::UniqueFd sock_;
};

}  // namespace brood::session
