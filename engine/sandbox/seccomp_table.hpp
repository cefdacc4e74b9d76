// The seccomp policy printed from its data (seccomp_policy.hpp), so that what is documented and
// what is tested cannot drift from what is compiled: tools/seccomp_table.cpp writes both files,
// and tests compare them with what the code prints now.
#pragma once

#include <string>

namespace brood::sandbox {

// docs/seccomp.md: every set with its reason and calls, every denied call with its own reason.
std::string PolicyMarkdown();

// tests/sandbox/seccomp_golden.txt: for each x86_64 number from 0 to kHighestKnown + 30, its
// name, set, and the filter's answer with all-zero arguments under errno and under kill:
// "allow", an errno name ("EPERM", "ENOSYS", "EAFNOSUPPORT"), "zero" (0, nothing done), or
// "notify" (init's listener).
std::string GoldenTable();

// docs/landlock.md: the per-path Landlock table (landlock.hpp), right by right.
std::string LandlockMarkdown();

}  // namespace brood::sandbox
