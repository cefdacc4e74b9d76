// Whole-file reads of fds brood hands between its processes (memfds: a task spec, collected
// files).
#pragma once

#include <string>

namespace brood::sys {

// The whole content of a regular file or memfd (fstat size, pread from 0); "" on error.
std::string ReadWholeFd(int fd);

}  // namespace brood::sys
