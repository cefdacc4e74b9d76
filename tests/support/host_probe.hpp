// Properties of the host that some expectations depend on, probed once per test binary OUTSIDE
// any sandbox. A test whose check cannot hold on this host asserts what still holds there and
// says why it skipped the rest (GTEST_SKIP, or a logged line in the hostile runner); a probe
// decides that, never a failure caught after the fact.
#pragma once

#include <optional>
#include <string>

namespace brood::testing {

// What `int 0x80` (the i386 system call gate) does on this host, from the static probe's
// `int80` command (getpid through the i386 table) run as a plain child of the test binary.
// On most x86_64 kernels it enters the kernel, where seccomp sees the foreign architecture and
// brood's filter kills the task (`violation`). On some (ia32 emulation off, e.g.
// `ia32_emulation=0` or a hypervisor without the gate) the CPU faults first: the process gets
// SIGSEGV and no system call is made, so seccomp never sees it.
struct Int80Behavior {
  bool enters_kernel = false;  // the call returned to its caller
  int signal = 0;              // otherwise: the signal the probe died of (0: it exited oddly)
  std::string what;            // one line saying which, for test output
};
const Int80Behavior& Int80OnThisHost();

// A named host property that hostile cases may require (`"requires": NAME` in a case file):
//   int80-enters-kernel   Int80OnThisHost().enters_kernel
//   landlock              tasks run under Landlock here (ABI >= 2: their filesystem rules)
//   landlock-scopes       ... with abstract unix sockets and signals scoped (ABI >= 6)
//   workspace-disks       brood gives tasks workspace disks here (workspace::Unavailable is
//                         empty: root, loop devices, ext4, mkfs.ext4); else a shared tmpfs
//   host-has:PATH         PATH exists on the host (the sandbox's /usr, /bin, /lib* are the
//                         host's), for cases that run a tool outside Debian's essential set
// Returns nullopt for a name it does not know (a typo must fail, never skip); otherwise whether
// the host has it, with `why` saying what was probed.
std::optional<bool> HostHas(const std::string& property, std::string* why);
// Whether `property` is a name HostHas knows, without probing anything.
bool IsHostProperty(const std::string& property);

}  // namespace brood::testing
