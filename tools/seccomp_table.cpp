// brood-seccomp-table --markdown | --landlock | --golden: prints the seccomp policy as
// docs/seccomp.md, the Landlock rules as docs/landlock.md, or the tests' golden table
// (tests/sandbox/seccomp_golden.txt), from the code's own data.
//   build/brood-seccomp-table --markdown > docs/seccomp.md
//   build/brood-seccomp-table --landlock > docs/landlock.md
//   build/brood-seccomp-table --golden > tests/sandbox/seccomp_golden.txt
#include "sandbox/seccomp_table.hpp"

#include <cstdio>
#include <cstring>
#include <iostream>

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--markdown") == 0) {
    std::cout << brood::sandbox::PolicyMarkdown();
    return 0;
  }
  if (argc == 2 && std::strcmp(argv[1], "--landlock") == 0) {
    std::cout << brood::sandbox::LandlockMarkdown();
    return 0;
  }
  if (argc == 2 && std::strcmp(argv[1], "--golden") == 0) {
    std::cout << brood::sandbox::GoldenTable();
    return 0;
  }
  std::fprintf(stderr, "usage: %s --markdown | --landlock | --golden\n", argv[0]);
  return 2;
}
