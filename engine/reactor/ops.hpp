// Internal to the reactor: the operation objects whose address travels in an SQE's user_data.
// An op is a small state machine. The reactor asks it to Prep() the SQE of its next step and hands
// it each CQE through Complete(); the op runs its user callbacks and says whether it has another
// step. The reactor owns the op and frees it only when the kernel owes it no more CQEs.
#pragma once

#include <liburing.h>
#include <poll.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <utility>

#include "reactor/reactor.hpp"

namespace brood::reactor::internal {

// One read or write step moves at most this much. Pages of the buffer are touched only by the
// kernel's copy, so an idle stream costs address space, not memory.
inline constexpr unsigned kChunk = 64 * 1024;

class Op {
 public:
  explicit Op(Reactor::OpId id) : id(id) {}
  virtual ~Op() = default;
  Op(const Op&) = delete;
  Op& operator=(const Op&) = delete;

  // Fills `sqe` for the next step. The reactor sets user_data.
  virtual void Prep(io_uring_sqe* sqe) = 0;
  // One CQE of the current step. Returns true when the op has another step to submit.
  virtual bool Complete(int res, unsigned flags) = 0;
  // A timer's deadline (CLOCK_MONOTONIC ns), by which the reactor orders the timers completing
  // in one batch of CQEs; -1 for every other op.
  virtual int64_t deadline_ns() const { return -1; }

  const Reactor::OpId id;    // 0 for the reactor's own ops, which are never in the table
  bool cancelled = false;    // set by Cancel(): no callback runs afterwards
  bool done = false;         // the op reported its end; nothing more to submit
  bool dispatching = false;  // inside Complete(): a callback may cancel it, not free it
  uint32_t queued = 0;       // entries in the reactor's arm queue that name this op
  uint32_t issued = 0;       // SQEs (its own and cancels) whose CQE has not arrived yet
};

// Both ReadStream and Pump read a stream: a READ at the current position (-1, what pipes need),
// and, when the fd is O_NONBLOCK and empty (the kernel then answers -EAGAIN), a one-shot POLL_ADD
// before the next READ instead of a busy retry.
inline void PrepRead(io_uring_sqe* sqe, int fd, char* buf, unsigned len) {
  io_uring_prep_read(sqe, fd, buf, len, static_cast<uint64_t>(-1));
}

class ReadStreamOp final : public Op {
 public:
  ReadStreamOp(Reactor::OpId id, int fd, std::function<void(std::span<const char>)> on_data,
               std::function<void(int)> on_end)
      : Op(id), fd_(fd), on_data_(std::move(on_data)), on_end_(std::move(on_end)) {}

  void Prep(io_uring_sqe* sqe) override {
    if (polling_) {
      io_uring_prep_poll_add(sqe, fd_, POLLIN);
    } else {
      PrepRead(sqe, fd_, buf_.get(), kChunk);
    }
  }

  bool Complete(int res, unsigned) override {
    if (polling_) {  // readable, hung up or in error: the READ tells which
      polling_ = false;
      return res >= 0 ? true : End(res);
    }
    if (res > 0) {
      on_data_(std::span<const char>(buf_.get(), static_cast<size_t>(res)));
      return true;
    }
    if (res == -EAGAIN) polling_ = true;
    if (res == -EAGAIN || res == -EINTR) return true;
    return End(res);  // 0 at EOF, else -errno
  }

 private:
  bool End(int err) {
    on_end_(err);
    return false;
  }

  int fd_;
  bool polling_ = false;
  std::unique_ptr<char[]> buf_ = std::make_unique_for_overwrite<char[]>(kChunk);
  std::function<void(std::span<const char>)> on_data_;
  std::function<void(int)> on_end_;
};

class PollOp final : public Op {
 public:
  PollOp(Reactor::OpId id, int fd, std::function<void(int)> cb)
      : Op(id), fd_(fd), cb_(std::move(cb)) {}
  void Prep(io_uring_sqe* sqe) override { io_uring_prep_poll_add(sqe, fd_, POLLIN); }
  bool Complete(int res, unsigned) override {
    cb_(res);
    return false;
  }

 private:
  int fd_;
  std::function<void(int)> cb_;
};

class TimerOp final : public Op {
 public:
  TimerOp(Reactor::OpId id, int64_t deadline_ns, std::function<void()> cb)
      : Op(id), deadline_ns_(deadline_ns), cb_(std::move(cb)) {}

  // A deadline already past becomes a NOP: arming an expired hrtimer costs ~20 us of timer
  // interrupt here (a KVM guest), a NOP ~1 us, and both complete at once in submission order.
  // ts_ lives in the op: the kernel reads it when the SQE is submitted, not when prepared.
  void Prep(io_uring_sqe* sqe) override {
    if (deadline_ns_ <= NowNs()) {
      io_uring_prep_nop(sqe);
      return;
    }
    ts_.tv_sec = deadline_ns_ / 1'000'000'000;
    ts_.tv_nsec = deadline_ns_ % 1'000'000'000;
    io_uring_prep_timeout(sqe, &ts_, 0, IORING_TIMEOUT_ABS);  // absolute CLOCK_MONOTONIC
  }
  // -ETIME is the normal firing, 0 the NOP. Any other result (there is none for a valid
  // deadline) fires too: a timer that never fires would leave a task waiting forever.
  bool Complete(int, unsigned) override {
    cb_();
    return false;
  }
  int64_t deadline_ns() const override { return deadline_ns_; }

 private:
  int64_t deadline_ns_;
  __kernel_timespec ts_{};
  std::function<void()> cb_;
};

// One chunk in flight: READ from `from`, then WRITE until all of it is in `to`, then READ again.
class PumpOp final : public Op {
 public:
  PumpOp(Reactor::OpId id, int from, int to, std::function<void(int)> cb)
      : Op(id), from_(from), to_(to), cb_(std::move(cb)) {}

  void Prep(io_uring_sqe* sqe) override {
    switch (step_) {
      case Step::kRead:
        PrepRead(sqe, from_, buf_.get(), kChunk);
        break;
      case Step::kWrite:
        io_uring_prep_write(sqe, to_, buf_.get() + off_, len_ - off_, static_cast<uint64_t>(-1));
        break;
      case Step::kPollIn:
        io_uring_prep_poll_add(sqe, from_, POLLIN);
        break;
      case Step::kPollOut:
        io_uring_prep_poll_add(sqe, to_, POLLOUT);
        break;
    }
  }

  bool Complete(int res, unsigned) override {
    switch (step_) {
      case Step::kPollIn:
      case Step::kPollOut:
        if (res < 0) return End(res);
        step_ = step_ == Step::kPollIn ? Step::kRead : Step::kWrite;
        return true;
      case Step::kRead:
        if (res == 0) return End(0);
        if (res > 0) {
          len_ = static_cast<unsigned>(res);
          off_ = 0;
          step_ = Step::kWrite;
          return true;
        }
        return Retry(res, Step::kPollIn);
      case Step::kWrite:
        if (res == 0) return End(-EIO);  // no progress and no error: do not spin
        if (res > 0) {
          off_ += static_cast<unsigned>(res);  // a short write sends the rest next
          if (off_ == len_) step_ = Step::kRead;
          return true;
        }
        return Retry(res, Step::kPollOut);
    }
    return End(-EINVAL);
  }

 private:
  enum class Step { kRead, kWrite, kPollIn, kPollOut };

  bool Retry(int res, Step poll) {
    if (res == -EAGAIN) step_ = poll;
    if (res == -EAGAIN || res == -EINTR) return true;
    return End(res);
  }
  bool End(int err) {
    cb_(err);
    return false;
  }

  int from_, to_;
  Step step_ = Step::kRead;
  unsigned len_ = 0, off_ = 0;
  std::unique_ptr<char[]> buf_ = std::make_unique_for_overwrite<char[]>(kChunk);
  std::function<void(int)> cb_;
};

// Keeps one READ on the wake eventfd armed for the reactor's life; each completion means Post()
// or Stop() was called.
class WakeOp final : public Op {
 public:
  WakeOp(int fd, std::function<void()> on_wake) : Op(0), fd_(fd), on_wake_(std::move(on_wake)) {}
  void Prep(io_uring_sqe* sqe) override { io_uring_prep_read(sqe, fd_, &count_, sizeof count_, 0); }
  bool Complete(int, unsigned) override {
    on_wake_();
    return true;
  }

 private:
  int fd_;
  uint64_t count_ = 0;
  std::function<void()> on_wake_;
};

}  // namespace brood::reactor::internal
