// `collect`: workspace files returned in the result (docs/job.md). Run in the task's namespace
// after every task process is dead, by a child of init that holds the sandbox user's ids and no
// capabilities, so it can read only what the task itself could. Regular files only, never
// through a symlink (openat2 RESOLVE_NO_SYMLINKS, O_NOFOLLOW), at most 1 MiB a file and 8 MiB a
// task (names included); what is left out is named, in at most 64 KiB (the rest counted).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace brood::sandbox {

constexpr size_t kCollectFileMax = 1u << 20;
constexpr size_t kCollectTaskMax = 8u << 20;

// Walks /workspace, matching each relative path against `patterns` (fnmatch, FNM_PATHNAME: `*`
// does not cross '/'), and writes the encoded outcome to `out_fd` (a memfd). Never follows a
// symlink. Returns 0 or an errno.
int CollectInto(int out_fd, const std::vector<std::string>& patterns);

// The whole workspace (an evaluation's build, Job::snapshot): every regular file, at most
// kSnapshotMax bytes in all (names included). What is not a regular file or a directory
// (symlinks, FIFOs, devices, sockets) is left out silently: a snapshot becomes a later task's
// `files`, which are regular files only. A file past the bound is named in left_out.
int SnapshotInto(int out_fd);

struct Collected {
  std::map<std::string, std::string> files;
  std::vector<std::string> left_out;  // "out/big.bin: larger than 1 MiB"
};
std::optional<Collected> DecodeCollected(std::string_view bytes);

}  // namespace brood::sandbox
