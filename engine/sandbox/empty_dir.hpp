// Emptying a workspace directory between tasks, in the task's init once every process of the
// task is gone (nothing changes the tree meanwhile). Never follows a symlink, never leaves the
// filesystem, holds two fds at a time however deep the tree (a task may nest thousands of
// directories), and gets through directories the task made unreadable (init holds
// CAP_DAC_OVERRIDE over the sandbox user's files).
#pragma once

namespace brood::sandbox {

// Removes everything below the directory `dir` (an fd, read from its start), but not `dir`
// itself. Returns 0 or the errno of the first removal that failed.
int EmptyDir(int dir);

}  // namespace brood::sandbox
