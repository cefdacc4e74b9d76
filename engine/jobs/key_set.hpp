// The one thing `brood run` keeps per job: its key (the id, or "line:N"), to catch duplicate ids
// and to skip what --resume finds done. A flat open-addressing table of 128-bit fingerprints,
// 16 bytes an entry (at most half full: ~32-48 bytes a job), instead of a set of strings
// (~80 bytes a job each). Two keys share a fingerprint with probability ~n^2 / 2^129:
// negligible even for billions of jobs.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace brood::jobs {

class KeySet {
 public:
  enum Flag : uint8_t { kDone = 1, kSeen = 2 };
  // Sets `flag` for `key`; returns the flags it had before (0 for a new key).
  uint8_t Mark(std::string_view key, Flag flag);
  uint8_t Get(std::string_view key) const;
  size_t size() const { return used_; }

 private:
  struct Entry {
    uint64_t a = 0, b = 0;  // b's low 2 bits hold the flags; a == b == 0 is empty
  };
  size_t Find(uint64_t a, uint64_t b) const;  // the slot of the key, or the empty slot for it
  void Grow();
  std::vector<Entry> table_ = std::vector<Entry>(1024);
  size_t used_ = 0;
};

}  // namespace brood::jobs
