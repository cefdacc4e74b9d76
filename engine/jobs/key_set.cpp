#include "jobs/key_set.hpp"

#include <cstring>

namespace brood::jobs {
namespace {

// A 64-bit hash in the style of wyhash's mixing (multiply-fold), seeded twice for 128 bits.
uint64_t Mix(uint64_t a, uint64_t b) {
  __uint128_t r = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

uint64_t Hash(std::string_view s, uint64_t seed) {
  uint64_t h = seed ^ (s.size() * 0x9e3779b97f4a7c15ULL);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = Mix(h ^ w, 0xa0761d6478bd642fULL);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, s.data() + i, s.size() - i);
  return Mix(h ^ tail, 0xe7037ed1a0b428dbULL) ^ h;
}

}  // namespace

size_t KeySet::Find(uint64_t a, uint64_t b) const {
  const size_t mask = table_.size() - 1;
  for (size_t i = a & mask;; i = (i + 1) & mask) {
    const Entry& e = table_[i];
    if ((e.a == 0 && e.b == 0) || (e.a == a && (e.b & ~3ULL) == b)) return i;
  }
}

void KeySet::Grow() {
  std::vector<Entry> old = std::move(table_);
  table_.assign(old.size() * 2, Entry{});
  for (const Entry& e : old)
    if (e.a != 0 || e.b != 0) table_[Find(e.a, e.b & ~3ULL)] = e;
}

uint8_t KeySet::Mark(std::string_view key, Flag flag) {
  const uint64_t a = Hash(key, 0x243f6a8885a308d3ULL) | 1;  // never 0: 0/0 marks empty
  const uint64_t b = Hash(key, 0x13198a2e03707344ULL) & ~3ULL;
  Entry& e = table_[Find(a, b)];
  const uint8_t before = (e.a == 0 && e.b == 0) ? 0 : static_cast<uint8_t>(e.b & 3);
  if (before == 0) {
    e.a = a;
    e.b = b;
    ++used_;
  }
  e.b |= flag;
  if (used_ * 2 > table_.size()) Grow();
  return before;
}

uint8_t KeySet::Get(std::string_view key) const {
  const uint64_t a = Hash(key, 0x243f6a8885a308d3ULL) | 1;
  const uint64_t b = Hash(key, 0x13198a2e03707344ULL) & ~3ULL;
  const Entry& e = table_[Find(a, b)];
  return (e.a == 0 && e.b == 0) ? 0 : static_cast<uint8_t>(e.b & 3);
}

}  // namespace brood::jobs
