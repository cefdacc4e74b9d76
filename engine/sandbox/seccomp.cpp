// The task policy (seccomp_policy.cpp) compiled: its denied, absent and pretended sets become
// libseccomp rules under a default that allows what is left (the allowed sets: every number is in
// one set), a guard before libseccomp's program checks the arguments of the calls allowed only in
// part and answers ENOSYS for numbers the policy does not know. The program is exported once as
// BPF, so a task only pays for one seccomp(2) call.
#include "sandbox/seccomp.hpp"

#include <linux/audit.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/seccomp_policy.hpp"
#include "sys/fd.hpp"

namespace brood::sandbox {
namespace {

// CLONE_NEWTIME is missing on purpose: its bit is CSIGNAL's for clone(2), so only unshare and
// clone3 can ask for it, and both are refused whole.
constexpr uint32_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
                                     CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

// A tiny assembler for the guard: jumps name their targets, resolved when the program is done.
class Asm {
 public:
  using Label = int;
  Label NewLabel() {
    at_.push_back(-1);
    return static_cast<Label>(at_.size() - 1);
  }
  void Bind(Label l) { at_[l] = static_cast<int>(code_.size()); }
  void Load(uint32_t offset) { code_.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offset)); }
  void Ret(uint32_t action) { code_.push_back(BPF_STMT(BPF_RET | BPF_K, action)); }
  // if (A op k) goto yes else goto no; a label of -1 means the next instruction.
  void Jump(uint16_t op, uint32_t k, Label yes, Label no = -1) {
    fix_.push_back({code_.size(), yes, no});
    code_.push_back(BPF_JUMP(BPF_JMP | op | BPF_K, k, 0, 0));
  }
  // Resolves the jumps; false when a target is unbound, backwards or out of a jump's reach.
  bool Finish(std::vector<sock_filter>* out) {
    for (const Fix& f : fix_) {
      for (auto [label, field] : {std::pair{f.yes, &code_[f.pc].jt}, {f.no, &code_[f.pc].jf}}) {
        if (label < 0) continue;
        const int to = at_[label], off = to - static_cast<int>(f.pc) - 1;
        if (to < 0 || off < 0 || off > 255) return false;
        *field = static_cast<uint8_t>(off);
      }
    }
    *out = std::move(code_);
    return true;
  }

 private:
  struct Fix {
    std::size_t pc;
    Label yes, no;
  };
  std::vector<sock_filter> code_;
  std::vector<int> at_;
  std::vector<Fix> fix_;
};

// What libseccomp's rules cannot say, run before its program: argument checks that look at the
// unsigned int the kernel reads (libseccomp compares all 64 bits, so garbage in the upper half
// would slip past; and it cannot say "none of these values"), and the numbers no rule names
// (ENOSYS). Other architectures and x32 numbers fall through to libseccomp's program, which
// sends them to the bad-architecture action.
sys::StatusOr<std::vector<sock_filter>> Guard(uint32_t arch, uint32_t deny) {
  constexpr uint32_t kLow = std::endian::native == std::endian::little ? 0 : 4;
  auto arg = [](int i) {
    return static_cast<uint32_t>(offsetof(seccomp_data, args) + i * sizeof(uint64_t) + kLow);
  };
  Asm a;
  const Asm::Label end = a.NewLabel(), allow = a.NewLabel(), refuse = a.NewLabel(),
                   absent = a.NewLabel(), persona = a.NewLabel(), ioctl = a.NewLabel(),
                   clone = a.NewLabel(), socket = a.NewLabel(), netlink = a.NewLabel();
  a.Load(offsetof(seccomp_data, arch));
  a.Jump(BPF_JEQ, arch, -1, end);
  a.Load(offsetof(seccomp_data, nr));
  a.Jump(BPF_JEQ, __NR_personality, persona);
  a.Jump(BPF_JEQ, __NR_ioctl, ioctl);
  a.Jump(BPF_JEQ, __NR_clone, clone);
  a.Jump(BPF_JEQ, __NR_socket, socket);
  a.Jump(BPF_JEQ, 0xffffffff, absent);  // nr -1, a tracer's "skip this call": ENOSYS
#ifdef __X32_SYSCALL_BIT
  a.Jump(BPF_JGE, __X32_SYSCALL_BIT, end);
#endif
  a.Jump(BPF_JGT, kHighestKnown, absent);
  a.Jump(BPF_JGT, kUnassignedLast, end);
  a.Jump(BPF_JGE, kUnassignedFirst, absent, end);

  a.Bind(persona);
  a.Load(arg(0));
  a.Jump(BPF_JEQ, PER_LINUX, allow);
  a.Jump(BPF_JEQ, 0xffffffff, allow, refuse);

  a.Bind(ioctl);
  a.Load(arg(1));
  a.Jump(BPF_JEQ, TIOCSTI, refuse);
  a.Jump(BPF_JEQ, TIOCLINUX, refuse, allow);

  a.Bind(clone);
  a.Load(arg(0));
  a.Jump(BPF_JSET, kNamespaceFlags, refuse, allow);

  a.Bind(socket);
  a.Load(arg(0));
  a.Jump(BPF_JEQ, AF_UNIX, allow);
  a.Jump(BPF_JEQ, AF_INET, allow);
  a.Jump(BPF_JEQ, AF_INET6, allow);
  a.Jump(BPF_JEQ, AF_NETLINK, netlink);
  a.Ret(SECCOMP_RET_ERRNO | EAFNOSUPPORT);
  a.Bind(netlink);
  a.Load(arg(2));
  a.Jump(BPF_JEQ, NETLINK_ROUTE, allow);
  a.Ret(SECCOMP_RET_ERRNO | EPROTONOSUPPORT);

  a.Bind(allow);
  a.Ret(SECCOMP_RET_ALLOW);
  a.Bind(refuse);
  a.Ret(deny);
  a.Bind(absent);
  a.Ret(SECCOMP_RET_ERRNO | ENOSYS);
  a.Bind(end);
  std::vector<sock_filter> out;
  if (!a.Finish(&out)) return sys::Status::Error("seccomp: the guard's jumps do not resolve");
  return out;
}

sys::Status SetAttr(scmp_filter_ctx ctx, scmp_filter_attr attr, uint32_t value, const char* name) {
  int rc = seccomp_attr_set(ctx, attr, value);
  return rc < 0 ? sys::NegErrno(std::string("seccomp_attr_set(") + name + ")", rc)
                : sys::OkStatus();
}

}  // namespace

std::span<const DeniedSyscall> DeniedSyscalls() {
  static const std::vector<DeniedSyscall> denied = [] {
    std::vector<DeniedSyscall> d;
    for (const SyscallSet& set : TaskPolicy()) {
      if (set.answer != Answer::kDeny && set.answer != Answer::kAbsent) continue;
      for (const PolicyCall& call : set.calls) {
        d.push_back({call.name, set.answer == Answer::kAbsent ? ENOSYS : EPERM, call.reason});
      }
    }
    return d;
  }();
  return denied;
}

sys::StatusOr<SeccompProgram> CompileTaskPolicy(ViolationAction action) {
  // A denied call fails with EPERM, or (kill, log) waits for the task's init, which ends the
  // task or records the call and answers EPERM: see SeccompProgram::listener.
  const bool listener = action != ViolationAction::kErrno;
  const uint32_t deny = listener ? SCMP_ACT_NOTIFY : SCMP_ACT_ERRNO(EPERM);
  // libseccomp's default is to allow, and its rules name the calls with another answer: every
  // number the filter can see there is in exactly one set (checked below), so this is the same
  // allow-list, in fewer instructions (the allowed calls are the most numerous: ~200 against
  // ~430 the other way round), which is what seccomp(2) pays for at every task's start.
  Ctx ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) return sys::Status::Error("seccomp_init failed");
  // i386 (int 0x80) and x32 calls have their own numbers, which the sets do not describe. The
  // filter holds only the native architecture, and libseccomp 2.5.4 also sends x32 numbers
  // (nr >= __X32_SYSCALL_BIT on x86_64's audit arch) to the bad-architecture action, except nr -1
  // (a tracer's "skip this call"; the kernel answers ENOSYS). The tests pin both.
  // With a listener a foreign call goes to init like any denied call, so that it ends the whole
  // task even when a child makes it; under kErrno it kills the calling process (with no listener,
  // a notification would only answer ENOSYS).
  const uint32_t badarch = listener ? SCMP_ACT_NOTIFY : SCMP_ACT_KILL_PROCESS;
  BROOD_RETURN_IF_ERROR(SetAttr(ctx.get(), SCMP_FLTATR_ACT_BADARCH, badarch, "ACT_BADARCH"));
  // The task sets no_new_privs itself, before LoadSeccomp; libseccomp never loads this filter.
  BROOD_RETURN_IF_ERROR(SetAttr(ctx.get(), SCMP_FLTATR_CTL_NNP, 0, "CTL_NNP"));
  // A binary search over syscall numbers instead of a linear list: loading is faster, because
  // seccomp(2) runs the filter once per syscall number to fill its allow cache, and the tree's
  // paths are short; it also shortens the path of the calls the cache cannot hold.
  BROOD_RETURN_IF_ERROR(SetAttr(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2, "CTL_OPTIMIZE"));

  const uint32_t arch = seccomp_arch_native();
  if (arch != SCMP_ARCH_X86_64) {
    return sys::Status::Error(
        "seccomp: the policy's numbers are x86_64's; this is another "
        "architecture");
  }
  // Denied, absent and pretended calls are rules; allowed ones the default action, and checked
  // ones the guard's (libseccomp never sees them). The guard answers every number above
  // kHighestKnown and in the unassigned range; every other must be in a set, or the default
  // would allow a call the policy never named.
  for (uint32_t nr = 0; nr <= kHighestKnown; ++nr) {
    if ((nr < kUnassignedFirst || nr > kUnassignedLast) && LookUp(nr).set == nullptr)
      return sys::Status::Error("seccomp: the policy has no answer for number " +
                                std::to_string(nr));
  }
  for (const SyscallSet& set : TaskPolicy()) {
    uint32_t act;
    if (set.answer == Answer::kDeny) {
      act = deny;
    } else if (set.answer == Answer::kAbsent) {
      act = SCMP_ACT_ERRNO(ENOSYS);
    } else if (set.answer == Answer::kPretend) {
      act = SCMP_ACT_ERRNO(0);  // the call returns 0 and the kernel never runs it
    } else {
      continue;
    }
    for (const PolicyCall& call : set.calls) {
      const int nr = SyscallNumber(call.name);
      if (nr < 0) return sys::Status::Error(std::string("seccomp: no number for ") + call.name);
      if (int rc = seccomp_rule_add_exact(ctx.get(), act, nr, 0); rc < 0) {
        return sys::NegErrno(std::string("seccomp_rule_add(") + call.name + ")", rc);
      }
    }
  }

  // seccomp_export_bpf writes to an fd only (libseccomp 2.6 adds a memory export).
  sys::UniqueFd memfd(memfd_create("brood-seccomp-bpf", MFD_CLOEXEC));
  if (!memfd) return sys::PosixError("memfd_create(brood-seccomp-bpf)");
  if (int rc = seccomp_export_bpf(ctx.get(), memfd.get()); rc < 0) {
    return sys::NegErrno("seccomp_export_bpf", rc);
  }
  struct stat st;
  if (fstat(memfd.get(), &st) != 0) return sys::PosixError("fstat(brood-seccomp-bpf)");
  if (st.st_size <= 0 || st.st_size % sizeof(sock_filter) != 0) {
    return sys::Status::Error("seccomp_export_bpf: odd program size " + std::to_string(st.st_size));
  }

  SeccompProgram prog;
  prog.listener = listener;
  prog.action = action;
  auto guard_or = Guard(arch, deny);
  if (!guard_or.ok()) return guard_or.status();
  const std::vector<sock_filter>& guard = guard_or.value();
  const std::size_t guard_len = guard.size();
  prog.insns.resize(guard_len + st.st_size / sizeof(sock_filter));
  std::copy(guard.begin(), guard.end(), prog.insns.begin());
  auto* dst = reinterpret_cast<char*>(prog.insns.data() + guard_len);
  for (off_t done = 0; done < st.st_size;) {
    ssize_t n = pread(memfd.get(), dst + done, st.st_size - done, done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys::PosixError("pread(brood-seccomp-bpf)");
    if (n == 0) return sys::Status::Error("pread(brood-seccomp-bpf): short read");
    done += n;
  }
  if (prog.insns.size() > BPF_MAXINSNS) {
    return sys::Status::Error("seccomp: program of " + std::to_string(prog.insns.size()) +
                              " instructions exceeds BPF_MAXINSNS");
  }
  return prog;
}

int LoadSeccomp(const SeccompProgram& prog, int* listener) noexcept {
  if (prog.insns.empty() || prog.insns.size() > BPF_MAXINSNS) return -EINVAL;
  if (prog.listener && listener == nullptr) return -EINVAL;
  sock_fprog fprog = {static_cast<unsigned short>(prog.insns.size()),
                      const_cast<sock_filter*>(prog.insns.data())};
  const unsigned flags = prog.listener ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog);
  if (rc < 0) return -errno;
  if (prog.listener) *listener = static_cast<int>(rc);
  return 0;
}

bool ViolationPending(int listener) noexcept {
  // A notification nobody has received yet reads as POLLIN until its caller dies.
  pollfd p = {listener, POLLIN, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

}  // namespace brood::sandbox
