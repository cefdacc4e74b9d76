// The io_uring loop. Ownership rule: an op lives in ops_ from its start until the kernel owes it no
// CQE (issued == 0), nothing of it waits in the arm queue (queued == 0), and it has ended or been
// cancelled. So an SQE never points at freed memory, whatever callbacks do in between.
//
// Re-entrancy: callbacks never touch the rings. Starting an op or cancelling one only appends to
// armq_; Flush() turns the queue into SQEs before the loop waits, submitting early when the SQ is
// full. Completions are copied out of the CQ a batch at a time (the CQ advanced once), the
// batch's timers put in deadline order, then dispatched.
#include "reactor/reactor.hpp"

#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "reactor/ops.hpp"
#include "sys/clock.hpp"
#include "sys/fd.hpp"

namespace brood::reactor {

int64_t NowNs() { return sys::MonotonicNs(); }

namespace {

using internal::Op;
using internal::WakeOp;

// An ASYNC_CANCEL's user_data: its target's address with the low bit set (ops are aligned), so
// the cancel's own CQE is counted against the target and the target outlives it.
constexpr uint64_t kCancelTag = 1;

// Setup flags, best first; EINVAL from an older kernel moves on to the next set. SINGLE_ISSUER
// binds the ring to the task that enables it, so the ring starts disabled and Run() enables it
// on the reactor thread (Create() may be called on any thread).
constexpr unsigned kSetupFlags[] = {
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_R_DISABLED,
    IORING_SETUP_COOP_TASKRUN,
    0,
};

// sched_attr (linux/sched/types.h clashes with glibc's sched_param).
struct SchedAttr {
  uint32_t size, sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime, sched_deadline, sched_period;
  uint32_t sched_util_min, sched_util_max;
};

// The reactor's timers are the wall and CPU limits: a wakeup that waits for a CPU behind the
// tasks it supervises, or behind anything else on the host, until their slice ends or the next
// tick (4 ms at HZ=250) is that much overshoot. Measured on 2 busy cores, wall-limit overshoot
// p99: 3.2-7.4 ms as an ordinary thread, 0.07-0.1 ms with SCHED_FIFO, 0.1-3.4 ms with a
// 0.1 ms slice. So, best first and best effort: SCHED_FIFO at the lowest real-time priority
// (root, or an RLIMIT_RTPRIO; the thread does little per event, it never spins, and
// reset-on-fork keeps the class from anything it starts); else a 0.1 ms EEVDF slice, with
// which a waking thread preempts the running one (Linux 6.12+; older kernels ignore the field).
// Returns the thread's attributes from before, for RestoreScheduling() when Run() returns.
SchedAttr AskForPromptWakeups() {
  constexpr uint64_t kResetOnFork = 0x01;  // SCHED_FLAG_RESET_ON_FORK
  SchedAttr before{};
  if (syscall(SYS_sched_getattr, 0, &before, sizeof before, 0) != 0) before.size = 0;
  SchedAttr attr{};
  attr.size = sizeof attr;
  attr.sched_policy = SCHED_FIFO;
  attr.sched_priority = 1;
  attr.sched_flags = kResetOnFork;
  if (syscall(SYS_sched_setattr, 0, &attr, 0) == 0) return before;
  attr.sched_policy = SCHED_OTHER;
  attr.sched_priority = 0;
  attr.sched_nice = before.size ? before.sched_nice : 0;
  attr.sched_runtime = 100'000;  // ns: the shortest slice the kernel takes
  (void)syscall(SYS_sched_setattr, 0, &attr, 0);
  return before;
}

void RestoreScheduling(SchedAttr before) {
  if (before.size) (void)syscall(SYS_sched_setattr, 0, &before, 0);
}

[[noreturn]] void Die(const char* call, int neg) {
  std::fprintf(stderr, "brood: reactor: %s\n", sys::NegErrno(call, neg).message().c_str());
  std::abort();
}

class ReactorImpl final : public Reactor {
 public:
  ReactorImpl() = default;
  ~ReactorImpl() override;

  sys::Status Init(unsigned entries);

  void Run() override;
  void Stop() override;
  void Post(std::function<void()> fn) override;
  OpId ReadStream(sys::BorrowedFd fd, std::function<void(std::span<const char>)> on_data,
                  std::function<void(int err)> on_end) override {
    return Start<internal::ReadStreamOp>(fd.get(), std::move(on_data), std::move(on_end));
  }
  OpId PollReadable(sys::BorrowedFd fd, std::function<void(int res)> cb) override {
    return Start<internal::PollOp>(fd.get(), std::move(cb));
  }
  OpId TimerAt(int64_t deadline_ns, std::function<void()> cb) override {
    return Start<internal::TimerOp>(deadline_ns, std::move(cb));
  }
  OpId Pump(sys::BorrowedFd from, sys::BorrowedFd to, std::function<void(int err)> cb) override {
    return Start<internal::PumpOp>(from.get(), to.get(), std::move(cb));
  }
  void Cancel(OpId id) override;

 private:
  struct ArmEntry {
    Op* op;
    bool cancel;  // an ASYNC_CANCEL of op rather than op's next step
  };

  template <typename T, typename... Args>
  OpId Start(Args&&... args) {
    const OpId id = next_id_++;
    auto op = std::make_unique<T>(id, std::forward<Args>(args)...);
    Arm(op.get());
    ops_.emplace(id, std::move(op));
    return id;
  }

  void Arm(Op* op) {
    if (op->cancelled) return;
    ++op->queued;
    armq_.push_back({op, false});
  }
  // One CQE, copied out of the ring.
  struct Cqe {
    uint64_t data;
    int res;
    unsigned flags;
  };
  void Flush();
  void Reap();
  void OrderTimers();
  void Dispatch(uint64_t data, int res, unsigned flags);
  void MaybeFree(Op* op) {
    if (op->id != 0 && !op->dispatching && op->queued == 0 && op->issued == 0 &&
        (op->cancelled || op->done)) {
      ops_.erase(op->id);
    }
  }
  void RunPosted();
  void Wake();
  void CancelEverything();

  io_uring ring_{};
  bool ring_ok_ = false;
  unsigned setup_flags_ = 0;
  bool enabled_ = false;
  sys::UniqueFd wake_fd_;
  std::unique_ptr<WakeOp> wake_op_;
  std::unordered_map<OpId, std::unique_ptr<Op>> ops_;
  std::vector<ArmEntry> armq_;
  OpId next_id_ = 1;
  uint64_t inflight_ = 0;  // CQEs the kernel owes us, over all ops
  // Reap's, kept for their capacity.
  std::vector<Cqe> batch_, timers_;
  std::vector<size_t> timer_slots_;

  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;  // guarded by mu_
};

sys::Status ReactorImpl::Init(unsigned entries) {
  int efd = eventfd(0, EFD_CLOEXEC);
  if (efd < 0) return sys::PosixError("eventfd(0, EFD_CLOEXEC)");
  wake_fd_.reset(efd);

  int ret = -EINVAL;
  for (unsigned flags : kSetupFlags) {
    io_uring_params p{};
    // Room for bursts (a full CQ takes the kernel's slow path), clamped to the kernel's maximum.
    p.flags = flags | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
    p.cq_entries = entries * 8;
    ret = io_uring_queue_init_params(entries, &ring_, &p);
    setup_flags_ = flags;
    if (ret != -EINVAL) break;
  }
  if (ret < 0) {
    return sys::NegErrno("io_uring_queue_init_params(" + std::to_string(entries) + ")", ret);
  }
  ring_ok_ = true;
  enabled_ = !(setup_flags_ & IORING_SETUP_R_DISABLED);
  // The engine forks (hatchery, tests): a child must not share the ring's mappings.
  ret = io_uring_ring_dontfork(&ring_);
  if (ret < 0) return sys::NegErrno("io_uring_ring_dontfork", ret);

  wake_op_ = std::make_unique<WakeOp>(wake_fd_.get(), [this] { RunPosted(); });
  Arm(wake_op_.get());
  return sys::OkStatus();
}

ReactorImpl::~ReactorImpl() {
  if (!ring_ok_) return;
  if (enabled_) CancelEverything();
  io_uring_queue_exit(&ring_);
}

// The kernel may still write into a READ's buffer until that READ's CQE: cancel every op and wait
// for the CQEs (no callback runs) before the buffers go. Should that fail (destroyed on another
// thread than Run()'s under SINGLE_ISSUER, or a read stuck in the kernel), the ops still owed a
// CQE are leaked rather than freed under the kernel's feet.
void ReactorImpl::CancelEverything() {
  for (ArmEntry& e : armq_) --e.op->queued;  // never submitted: nothing to wait for
  armq_.clear();
  auto cancel = [this](Op* op) {
    op->cancelled = true;
    if (op->issued == 0) return;
    ++op->queued;
    armq_.push_back({op, true});
  };
  for (auto& [id, op] : ops_) cancel(op.get());
  cancel(wake_op_.get());
  Flush();
  int ret = armq_.empty() ? io_uring_submit(&ring_) : -EBUSY;
  while (ret >= 0 && inflight_ > 0) {
    io_uring_cqe* cqe;
    __kernel_timespec limit{.tv_sec = 1, .tv_nsec = 0};
    ret = io_uring_wait_cqe_timeout(&ring_, &cqe, &limit);
    if (ret == -EINTR) ret = 0;
    if (ret >= 0) Reap();
  }
  if (inflight_ == 0) return;
  for (auto& [id, op] : ops_) {
    if (op->issued > 0) (void)op.release();
  }
  if (wake_op_->issued > 0) (void)wake_op_.release();
}

void ReactorImpl::Run() {
  if (!enabled_) {
    // liburing 2.3 declares io_uring_enable_rings() but does not export it: the syscall itself.
    long ret =
        syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
    if (ret < 0) Die("io_uring_register(IORING_REGISTER_ENABLE_RINGS)", -errno);
    enabled_ = true;
  }
  const SchedAttr sched_before = AskForPromptWakeups();
  // A WRITE into a pipe with no reader raises SIGPIPE in the thread that issued it, often this one
  // (io_uring tries the write inline). Blocked here, it only stays pending, and is dropped on the
  // way out, instead of killing the process: Pump reports EPIPE through its callback.
  sigset_t pipe_set, old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);

  while (!stop_.load(std::memory_order_acquire)) {
    Flush();
    int ret = io_uring_submit_and_wait(&ring_, 1);
    if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY && ret != -ETIME) {
      Die("io_uring_submit_and_wait", ret);  // EEXIST: Run() on a second thread
    }
    Reap();
  }
  stop_.store(false, std::memory_order_relaxed);
  RestoreScheduling(sched_before);

  if (!sigismember(&old_set, SIGPIPE)) {
    const timespec zero{};
    while (sigtimedwait(&pipe_set, nullptr, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  }
}

void ReactorImpl::Stop() {
  stop_.store(true, std::memory_order_release);
  Wake();
}

void ReactorImpl::Post(std::function<void()> fn) {
  bool was_empty;
  {
    std::lock_guard lock(mu_);
    was_empty = posted_.empty();
    posted_.push_back(std::move(fn));
  }
  // A non-empty queue already has a wake on its way: RunPosted() takes the queue only after the
  // eventfd READ that the first Post() caused has completed.
  if (was_empty) Wake();
}

void ReactorImpl::Wake() {
  const uint64_t one = 1;
  while (write(wake_fd_.get(), &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void ReactorImpl::RunPosted() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

void ReactorImpl::Cancel(OpId id) {
  auto it = ops_.find(id);
  if (it == ops_.end()) return;
  Op* op = it->second.get();
  if (op->cancelled || op->done) return;
  op->cancelled = true;
  if (op->issued > 0) {  // in the kernel: ask it back; a step still in armq_ is just dropped
    ++op->queued;
    armq_.push_back({op, true});
  }
  MaybeFree(op);
}

void ReactorImpl::Flush() {
  size_t i = 0;
  for (; i < armq_.size(); ++i) {
    const ArmEntry e = armq_[i];
    if (!e.cancel && e.op->cancelled) {
      --e.op->queued;
      MaybeFree(e.op);
      continue;
    }
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr && io_uring_submit(&ring_) >= 0) sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) break;  // the kernel is backed up: reap, then the loop comes back here
    const auto data = reinterpret_cast<uint64_t>(e.op);
    if (e.cancel) {
      io_uring_prep_cancel64(sqe, data, 0);
      io_uring_sqe_set_data64(sqe, data | kCancelTag);
    } else {
      e.op->Prep(sqe);
      io_uring_sqe_set_data64(sqe, data);
    }
    --e.op->queued;
    ++e.op->issued;
    ++inflight_;
  }
  armq_.erase(armq_.begin(), armq_.begin() + static_cast<ptrdiff_t>(i));
}

void ReactorImpl::Reap() {
  batch_.clear();
  unsigned head;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    batch_.push_back({cqe->user_data, cqe->res, cqe->flags});
  }
  io_uring_cq_advance(&ring_, static_cast<unsigned>(batch_.size()));
  OrderTimers();
  for (const Cqe& c : batch_) Dispatch(c.data, c.res, c.flags);
}

// The CQEs of completions the kernel defers to task work (a timer firing under COOP_TASKRUN)
// are posted in the order that work runs: first in, first out on 6.18, but last in, first out on
// 6.1 (seen under tools/v2vm: four timers that expired while the thread was busy came back 4 3 2
// 1). So the timers of one batch are put back in deadline order, in the slots they hold; the
// other CQEs keep their place.
void ReactorImpl::OrderTimers() {
  timer_slots_.clear();
  for (size_t i = 0; i < batch_.size(); ++i) {
    const uint64_t data = batch_[i].data;
    Op* op = reinterpret_cast<Op*>(data & ~kCancelTag);
    if (op != nullptr && !(data & kCancelTag) && op->deadline_ns() >= 0) timer_slots_.push_back(i);
  }
  if (timer_slots_.size() < 2) return;
  timers_.clear();
  for (size_t i : timer_slots_) timers_.push_back(batch_[i]);
  std::stable_sort(timers_.begin(), timers_.end(), [](const Cqe& a, const Cqe& b) {
    return reinterpret_cast<Op*>(a.data)->deadline_ns() <
           reinterpret_cast<Op*>(b.data)->deadline_ns();
  });
  for (size_t k = 0; k < timer_slots_.size(); ++k) batch_[timer_slots_[k]] = timers_[k];
}

void ReactorImpl::Dispatch(uint64_t data, int res, unsigned flags) {
  Op* op = reinterpret_cast<Op*>(data & ~kCancelTag);
  if (op == nullptr) return;
  if (!(flags & IORING_CQE_F_MORE)) {  // the last CQE of this SQE
    --op->issued;
    --inflight_;
  }
  if (!(data & kCancelTag) && !op->cancelled && !op->done) {
    op->dispatching = true;  // a callback may Cancel() this very op: free it only afterwards
    const bool more = op->Complete(res, flags);
    op->dispatching = false;
    if (more) {
      Arm(op);
    } else {
      op->done = true;
    }
  }
  MaybeFree(op);
}

}  // namespace

sys::StatusOr<std::unique_ptr<Reactor>> Reactor::Create(unsigned entries) {
  auto reactor = std::make_unique<ReactorImpl>();
  BROOD_RETURN_IF_ERROR(reactor->Init(entries).Wrap("reactor"));
  return std::unique_ptr<Reactor>(std::move(reactor));
}

}  // namespace brood::reactor
