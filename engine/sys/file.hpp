// Whole-file reads of fds brood hands between its processes (memfds: a task spec, collected
// files).
#pragma once

#include <span>
#include <string>

#include "sys/fd.hpp"
#include "sys/status.hpp"

namespace brood::sys {

// The whole content of a regular file or memfd (fstat size, pread from 0), or the error that
// stopped the read (never "" in its place: an empty file and a failed read differ).
StatusOr<std::string> ReadWholeFd(int fd);

// A memfd `name` holding `bytes`, read from its start; sealed against any change unless !seal.
// A pipe, both ends O_CLOEXEC, plus `flags` (O_DIRECT, O_NONBLOCK) on both.
struct Pipe {
  UniqueFd r, w;
};
StatusOr<Pipe> MakePipe(int flags = 0);

StatusOr<UniqueFd> MemfdWith(const std::string& bytes, const char* name, bool seal = true);

// Closes the fds in `fds` (-1 entries skipped; the span is sorted in place), one close_range per
// run of consecutive numbers: fds received or opened together usually are. No allocation.
void CloseRuns(std::span<int> fds);

}  // namespace brood::sys
