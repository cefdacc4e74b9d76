// The build cache (docs/eval.md): identical builds are done once. An entry is the build's
// record and the workspace it left (regular files only), kept under a key of everything that
// decides a build's outcome, in a bounded directory with least-recently-used eviction.
//
// Entries are made by untrusted code, and the cache trusts nothing in them: an entry is one file
// brood writes itself (a task never writes into the cache directory, which is root's, 0700), read
// back with its paths checked (jobs::PathProblem) and its size capped; its files become a later
// task's `files` (written as the sandbox user, 0755, no setuid, no links, no special files).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "brood/job.hpp"
#include "brood/result.hpp"
#include "sys/status.hpp"

namespace brood::eval {

struct CacheEntry {
  BuildResult build;                         // as the build ran (cached false)
  std::map<std::string, std::string> files;  // the workspace the build left
};

// What decides a build: every field is part of the key.
struct BuildKey {
  std::string partition;  // whose cache ("" for brood run; a token's digest over HTTP)
  std::string profile;    // the sandbox profile: root name and directory, network
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;    // the build's complete environment
  std::map<std::string, std::string> files;  // the workspace before the build
  Limits limits;
  std::string cwd;
};

class BuildCache {
 public:
  // Opens (creating, 0700) `dir`, keeping at most `max_bytes` of entries.
  static sys::StatusOr<std::unique_ptr<BuildCache>> Open(const std::string& dir,
                                                         uint64_t max_bytes);
  // The key's hex digest (SHA-256 over every field and brood's version).
  static std::string Digest(const BuildKey& key);

  // The entry stored under `digest`, marked used; nullopt when absent or unreadable (an
  // unreadable entry is removed).
  std::optional<CacheEntry> Lookup(const std::string& digest);
  // Stores `entry` (written to a temporary file, then renamed) and evicts the least recently
  // used entries past max_bytes. An entry larger than max_bytes is not stored. Never fails the
  // caller: a cache that cannot write is a cache that misses.
  void Store(const std::string& digest, const CacheEntry& entry);

  uint64_t bytes() const;  // the entries' total size now

 private:
  BuildCache() = default;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace brood::eval
