#include "sys/clone_vm.hpp"

#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>

#include <cstdint>

// clone3 with a new stack cannot be called through syscall(): the child would return from it on
// an empty stack. The trampoline makes the call and, in the child, calls fn(arg) on the new
// stack; fn never returns. fn and arg ride in r8 and r9, which the syscall leaves alone.
//   long brood_clone3_run(clone_args* args, size_t size, void (*fn)(void*), void* arg)
extern "C" long brood_clone3_run(clone_args* args, size_t size, void (*fn)(void*), void* arg);
#if defined(__x86_64__)
asm(R"(
  .text
  .globl brood_clone3_run
  .type brood_clone3_run, @function
brood_clone3_run:
  mov %rdx, %r8
  mov %rcx, %r9
  mov $435, %eax
  syscall
  test %rax, %rax
  jnz 1f
  xor %ebp, %ebp
  and $-16, %rsp
  mov %r9, %rdi
  call *%r8
  ud2
1:
  ret
  .size brood_clone3_run, .-brood_clone3_run
)");
#else
#error "brood_clone3_run is written for x86_64"
#endif

namespace brood::sys {

static_assert(SYS_clone3 == 435, "the trampoline's clone3 number");

pid_t CloneVfork(void (*fn)(void*), void* arg, void* stack, size_t stack_size, int cgroup_fd,
                 uint64_t ns_flags) {
  clone_args args{};
  args.flags = CLONE_VM | CLONE_VFORK | (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0) | ns_flags;
  args.exit_signal = SIGCHLD;
  args.stack = reinterpret_cast<uint64_t>(stack);
  args.stack_size = stack_size;
  if (cgroup_fd >= 0) args.cgroup = static_cast<uint64_t>(cgroup_fd);
  const long rc = brood_clone3_run(&args, sizeof args, fn, arg);
  return static_cast<pid_t>(rc);  // -errno on failure
}

}  // namespace brood::sys
