// The task's system-call policy as data: an allow-list in named sets, each with its reason, and
// the calls it denies, each with its own. CompileTaskPolicy (seccomp.hpp) turns it into BPF;
// tools/seccomp_table prints it as the table in docs/seccomp.md and as the tests' golden table.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace brood::sandbox {

// What the policy answers for every call of a set.
enum class Answer {
  kAllow,    // allowed
  kChecked,  // allowed with some arguments only (clone, ioctl, personality, socket): see `rule`
  kDeny,     // EPERM, or under --on-violation kill the end of the task
  kAbsent,   // ENOSYS, as on a kernel without the call, under every mode: never a violation
  kPretend,  // returns 0 without doing anything, under every mode: never a violation
};

// One call of a set. `reason` is required for kChecked, kDeny, kAbsent and kPretend rows; allowed
// sets give one reason for all their calls.
struct PolicyCall {
  const char* name;  // as the kernel's syscall table names it (x86_64)
  const char* reason = nullptr;
};

struct SyscallSet {
  const char* name;  // short, stable: "files", "memory", ...
  Answer answer;
  const char* reason;  // why the set is allowed (or denied)
  std::span<const PolicyCall> calls;
};

// Every set of the policy, allowed ones first. Every x86_64 number up to kHighestKnown is in
// exactly one set, except the never-assigned range kUnassignedFirst..kUnassignedLast.
std::span<const SyscallSet> TaskPolicy();

// The highest x86_64 number the policy has been reviewed for (file_setattr, 6.17). A call above
// it, or in the never-assigned range, answers ENOSYS: a call a later kernel adds stays closed
// until it is reviewed and named here, and libc and runtimes, which probe new calls and fall back
// only on ENOSYS, behave as on the kernel the policy knows. Never a violation.
inline constexpr uint32_t kHighestKnown = 469;
// x86_64 left 337..423 unused so that later calls share their numbers across architectures
// (uretprobe and uprobe took 335 and 336).
inline constexpr uint32_t kUnassignedFirst = 337;
inline constexpr uint32_t kUnassignedLast = 423;

// The x86_64 number of `name`, also for calls newer than libseccomp's table; -1 if unknown.
int SyscallNumber(const std::string& name);

// The name of x86_64 number `nr`, or "syscall_NR" for a number no table knows.
std::string SyscallName(uint32_t nr);

// What the policy answers for x86_64 number `nr`, and the set that says so (nullptr for numbers
// no set names: above kHighestKnown, or unassigned; the answer is then kAbsent).
struct Lookup {
  Answer answer;
  const SyscallSet* set;
  const PolicyCall* call;
};
Lookup LookUp(uint32_t nr);

}  // namespace brood::sandbox
