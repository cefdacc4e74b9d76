// The zygote's filesystem: a read-only tmpfs root holding read-only binds of the system
// directories, an /etc view, /dev nodes, and mount points for the per-task /proc and workspace.
// Built once per zygote, inside its user and mount namespaces, then pivoted into.
#pragma once

#include <string>

#include "sys/status.hpp"

namespace brood::sandbox {

struct RootConfig {
  std::string system_root = "/";  // where usr, bin, lib*, sbin and etc come from (--root)
};

// Requires: a private mount namespace owned by the caller's user namespace, the caller
// holding CAP_SYS_ADMIN there and fsuid/fsgid set to the sandbox user. On return the process
// root and cwd are the new root; the old root is detached.
sys::Status BuildAndPivotRoot(const RootConfig& config);

// Writes the /etc view into `etc_dir` (an empty directory in the new root): copies of the files
// programs need, binds of the directories, and passwd/group for the sandbox user. Never shadow,
// gshadow, sudoers, ssh keys or brood's own files.
sys::Status BuildEtcView(const std::string& source_etc, const std::string& etc_dir);

// Binds `from` on `to` recursively, every mount read-only, nosuid, nodev.
sys::Status BindTreeReadOnly(const std::string& from, const std::string& to);

// Brings the loopback interface of the current network namespace up.
sys::Status BringLoopbackUp();

}  // namespace brood::sandbox
