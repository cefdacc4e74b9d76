// The compiled policy run as data: a small classic-BPF interpreter (what seccomp(2) runs) decides
// (architecture, number, arguments) without a kernel, so the decisions a live call cannot tell
// apart are checked too: a number above the policy's highest answers ENOSYS from the filter (a
// kernel without the call would say the same), also under kill mode.
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "sandbox/seccomp.hpp"

namespace brood::sandbox {
namespace {

// Runs `prog` over `data` as the kernel's seccomp BPF does (the subset libseccomp and brood's
// guards emit); nullopt for an instruction it does not know, so the test fails loudly.
std::optional<uint32_t> RunBpf(const std::vector<sock_filter>& prog, const seccomp_data& data) {
  uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {};
  auto word = [&](uint32_t off) -> std::optional<uint32_t> {
    if (off % 4 != 0 || off + 4 > sizeof data) return std::nullopt;
    uint32_t v;
    std::memcpy(&v, reinterpret_cast<const char*>(&data) + off, 4);
    return v;
  };
  for (size_t pc = 0; pc < prog.size(); ++pc) {
    const sock_filter& i = prog[pc];
    const uint32_t src = BPF_SRC(i.code) == BPF_X ? x : i.k;
    switch (BPF_CLASS(i.code)) {
      case BPF_LD:
        if (BPF_MODE(i.code) == BPF_ABS) {
          auto v = word(i.k);
          if (!v) return std::nullopt;
          a = *v;
        } else if (BPF_MODE(i.code) == BPF_MEM && i.k < BPF_MEMWORDS) {
          a = mem[i.k];
        } else if (BPF_MODE(i.code) == BPF_IMM) {
          a = i.k;
        } else {
          return std::nullopt;
        }
        break;
      case BPF_LDX:
        if (BPF_MODE(i.code) == BPF_MEM && i.k < BPF_MEMWORDS)
          x = mem[i.k];
        else if (BPF_MODE(i.code) == BPF_IMM)
          x = i.k;
        else
          return std::nullopt;
        break;
      case BPF_ST:
        if (i.k >= BPF_MEMWORDS) return std::nullopt;
        mem[i.k] = a;
        break;
      case BPF_STX:
        if (i.k >= BPF_MEMWORDS) return std::nullopt;
        mem[i.k] = x;
        break;
      case BPF_ALU:
        switch (BPF_OP(i.code)) {
          case BPF_AND:
            a &= src;
            break;
          case BPF_OR:
            a |= src;
            break;
          case BPF_LSH:
            a <<= src;
            break;
          case BPF_RSH:
            a >>= src;
            break;
          case BPF_ADD:
            a += src;
            break;
          case BPF_SUB:
            a -= src;
            break;
          default:
            return std::nullopt;
        }
        break;
      case BPF_JMP: {
        if (BPF_OP(i.code) == BPF_JA) {
          pc += i.k;
          break;
        }
        bool t;
        switch (BPF_OP(i.code)) {
          case BPF_JEQ:
            t = a == src;
            break;
          case BPF_JGT:
            t = a > src;
            break;
          case BPF_JGE:
            t = a >= src;
            break;
          case BPF_JSET:
            t = (a & src) != 0;
            break;
          default:
            return std::nullopt;
        }
        pc += t ? i.jt : i.jf;
        break;
      }
      case BPF_RET:
        return BPF_RVAL(i.code) == BPF_A ? a : i.k;
      case BPF_MISC:
        if (BPF_MISCOP(i.code) == BPF_TAX)
          x = a;
        else
          a = x;
        break;
      default:
        return std::nullopt;
    }
  }
  return std::nullopt;  // fell off the end: the kernel refuses such programs
}

seccomp_data Call(int nr, uint64_t a0 = 0, uint64_t a1 = 0, uint64_t a2 = 0) {
  seccomp_data d{};
  d.nr = nr;
  d.arch = AUDIT_ARCH_X86_64;
  d.args[0] = a0;
  d.args[1] = a1;
  d.args[2] = a2;
  return d;
}

class SeccompBpf : public ::testing::TestWithParam<ViolationAction> {
 protected:
  void SetUp() override {
#if !defined(__x86_64__)
    GTEST_SKIP() << "the golden numbers are x86_64's";
#endif
    auto compiled = CompileTaskPolicy(GetParam());
    ASSERT_TRUE(compiled.ok()) << compiled.status().message();
    prog_ = compiled.value().insns;
  }
  uint32_t Decide(const seccomp_data& d) {
    auto r = RunBpf(prog_, d);
    EXPECT_TRUE(r.has_value()) << "the interpreter met an instruction it does not know";
    return r.value_or(0xdeadbeef);
  }
  std::vector<sock_filter> prog_;
};

constexpr uint32_t kAllow = SECCOMP_RET_ALLOW;
constexpr uint32_t Errno(int e) { return SECCOMP_RET_ERRNO | static_cast<uint32_t>(e); }

TEST_P(SeccompBpf, NumbersAboveThePolicysHighestAnswerEnosys) {
  for (int nr : {470, 471, 480, 500, 1000, 4095, 0x3fffffff})
    EXPECT_EQ(Decide(Call(nr)), Errno(ENOSYS)) << "nr " << nr;
  // The newest calls the policy knows: the xattr-at family and file_getattr/file_setattr are
  // ordinary file calls (allowed); open_tree_attr is the mount API (denied).
  for (int nr : {463, 464, 465, 466, 468, 469}) EXPECT_EQ(Decide(Call(nr)), kAllow) << nr;
  EXPECT_NE(Decide(Call(467)), kAllow);
}

TEST_P(SeccompBpf, X32AndForeignArchitecturesNeverReachTheEnosysStub) {
  const uint32_t badarch = Decide([] {
    seccomp_data d = Call(SYS_getpid);
    d.arch = AUDIT_ARCH_I386;
    return d;
  }());
  EXPECT_NE(badarch, kAllow);
  EXPECT_NE(badarch, Errno(ENOSYS));
  for (int nr : {0x40000000 | SYS_getpid, 0x40000000 | 470, 0x40000000 | 0x3fffffff}) {
    const uint32_t x32 = Decide(Call(nr));
    EXPECT_EQ(x32, badarch) << "x32 nr " << nr;
  }
}

TEST_P(SeccompBpf, OrdinaryCallsAreAllowedAndRowsDenied) {
  for (int nr : {SYS_read, SYS_write, SYS_openat, SYS_mmap, SYS_execve, SYS_exit_group, SYS_futex})
    EXPECT_EQ(Decide(Call(nr)), kAllow) << nr;
  const uint32_t denied =
      GetParam() == ViolationAction::kKill ? SECCOMP_RET_USER_NOTIF : Errno(EPERM);
  for (int nr : {SYS_ptrace, SYS_mount, SYS_bpf, SYS_modify_ldt, SYS_kcmp, SYS_vmsplice})
    EXPECT_EQ(Decide(Call(nr)), denied) << nr;
  EXPECT_EQ(Decide(Call(SYS_clone3)), Errno(ENOSYS));
  EXPECT_EQ(Decide(Call(SYS_socket, AF_ALG)), Errno(EAFNOSUPPORT));
  EXPECT_EQ(Decide(Call(SYS_socket, AF_INET6)), kAllow);
  EXPECT_EQ(Decide(Call(SYS_socket, AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG)),
            Errno(EPROTONOSUPPORT));
}

INSTANTIATE_TEST_SUITE_P(Modes, SeccompBpf,
                         ::testing::Values(ViolationAction::kErrno, ViolationAction::kKill),
                         [](const auto& info) {
                           return info.param == ViolationAction::kKill ? "kill" : "errno";
                         });

}  // namespace
}  // namespace brood::sandbox
