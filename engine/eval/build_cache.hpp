// The build cache (docs/build-cache.md): identical builds are done once. An entry is the build's
// record and the workspace it left (regular files only), kept under a key of everything that
// decides a build's outcome, in a bounded directory with least-recently-used eviction.
//
// Entries are made by untrusted code, and the cache trusts nothing in them: an entry is one file
// brood writes itself (a task never writes into the cache directory, which is brood's own, 0700),
// read back with its paths checked (jobs::PathProblem), its size capped and its checksum verified;
// its files become a later task's `files` (written as the sandbox user, 0755, no setuid, no links,
// no special files).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
  std::string profile;    // the sandbox profile: root name and directory, network, toolchain
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;    // the build's complete environment
  std::map<std::string, std::string> files;  // the workspace before the build
  Limits limits;                             // as Resolved() (cpu_ms 0 and = wall_ms are one key)
  std::string cwd;
};

class BuildCache {
 public:
  // What this cache did since Open (the cache logs nothing; tests and callers count here).
  struct Stats {
    uint64_t hits = 0, misses = 0;
    uint64_t stores = 0;  // entries written
    // A temporary file, its write, its rename or the encoding failed: nothing stored.
    uint64_t store_failures = 0;
    // Left out on purpose: larger than max_bytes; not the build's own outcome (sandbox_error,
    // invalid_job); a path jobs::PathProblem refuses; not a digest.
    uint64_t not_stored = 0;
    uint64_t invalid_removed = 0;  // unreadable entries found (and removed)
    uint64_t evicted = 0;
    uint64_t entries = 0;  // in the index now
  };

  // Opens (creating, 0700) `dir`, keeping at most `max_bytes` of entries. An error when `dir`
  // cannot be made or opened, is a symlink, is not a directory, is not the caller's, or is
  // writable by its group or others (the message says which).
  static sys::StatusOr<std::unique_ptr<BuildCache>> Open(const std::string& dir,
                                                         uint64_t max_bytes);
  // The key's digest: 64 lowercase hex digits (SHA-256 over every field and brood's version).
  // "" only if libcrypto fails, a digest that never hits and is never stored.
  static std::string Digest(const BuildKey& key);

  // The entry stored under `digest`, marked used; nullopt when absent or unreadable (an
  // unreadable entry is removed). Never throws.
  std::optional<CacheEntry> Lookup(const std::string& digest);
  // Stores `entry` (written to a temporary file, then renamed) and evicts the least recently
  // used entries past max_bytes. An entry larger than max_bytes is not stored. Never fails the
  // caller, never throws: a cache that cannot write is a cache that misses.
  void Store(const std::string& digest, const CacheEntry& entry);

  uint64_t bytes() const;  // the entries' total size now (as this process knows them)
  Stats stats() const;

 private:
  BuildCache() = default;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// The encodings of keys and entries (docs/build-cache.md), for the cache and its tests. An
// entry file, little-endian:
//   body:  magic "BROODBC\n", u32 format version, the digest (u64 length + bytes), u32 status,
//          exit_code and signal (u8 present + i32 each), stdout and stderr (u64 length + bytes),
//          u8 stdout_truncated, u8 stderr_truncated, wall_ms and cpu_ms (f64), u64
//          peak_memory_bytes, error (u8 present + u64 length + bytes), u64 file count, then per
//          file (in std::map order) path and content (u64 length + bytes each)
//   entry: body, then the SHA-256 of body (32 bytes)
namespace cache_format {

inline constexpr std::string_view kMagic{"BROODBC\n", 8};
inline constexpr uint32_t kVersion = 1;
inline constexpr size_t kChecksumBytes = 32;

// The body of `entry` stored under `digest`, unchecked (a test may encode what Store refuses).
std::string EncodeBody(std::string_view digest, const CacheEntry& entry);
// BuildCache::Digest as brood at `version` computes it.
std::string KeyDigest(const BuildKey& key, std::string_view version);
// `body` followed by its SHA-256.
std::string Seal(std::string body);
inline std::string Encode(std::string_view digest, const CacheEntry& entry) {
  return Seal(EncodeBody(digest, entry));
}
// Why `bytes` is not a valid entry stored under `digest` and at most `cap` bytes long, or ""
// (then `out`, if given, holds it).
std::string Problem(std::string_view bytes, std::string_view digest, uint64_t cap, CacheEntry* out);
// Why `files` cannot be an entry's workspace (a path jobs::PathProblem refuses, or a path both a
// file and a directory of another), or "".
std::string FilesProblem(const std::map<std::string, std::string>& files);

}  // namespace cache_format

}  // namespace brood::eval
