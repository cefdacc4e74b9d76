// What /proc/<pid>/cmdline and environ show for brood's helper processes. They are forks of the
// supervisor and would otherwise show its command line and environment to a task (pid 1 of a
// task's namespace is such a fork). The hatchery scrubs both areas once; its descendants
// inherit the scrubbed copy and set their own title.
#pragma once

namespace brood::sys {

// Finds this process's argv and environ areas (/proc/self/stat), zeroes them and writes
// `title`. Call once, in the hatchery, before any descendant exists.
void ScrubProcessArea(const char* title);

// Rewrites the title in a process whose area was scrubbed. Async-signal-safe.
void SetProcessTitle(const char* title);

}  // namespace brood::sys
