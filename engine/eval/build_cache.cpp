#include "eval/build_cache.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <unordered_map>
#include <utility>

#include "jobs/job_fields.hpp"
#include "sys/fd.hpp"

#ifndef BROOD_VERSION
#error "BROOD_VERSION is defined by CMakeLists.txt for brood_engine"
#endif

namespace brood::eval {

// A new field of the key must be hashed by Digest(): these fail to compile until it is looked at.
static_assert(sizeof(Limits) == 6 * sizeof(int64_t) + sizeof(double),
              "a new limit: add it to BuildCache::Digest");
static_assert(sizeof(BuildKey) == 2 * sizeof(std::string) + sizeof(std::vector<std::string>) +
                                      2 * sizeof(std::map<std::string, std::string>) +
                                      sizeof(Limits) + sizeof(std::string),
              "a new field of BuildKey: add it to BuildCache::Digest");

namespace {

constexpr std::string_view kKeyDomain = "brood build key";
constexpr std::string_view kTempPrefix = ".tmp-";
constexpr int64_t kStaleTempNs = 3600LL * 1000 * 1000 * 1000;  // an hour
constexpr size_t kDigestHex = 64;

// SHA-256 of pieces fed in turn (libcrypto's EVP interface). A failure of libcrypto (it has no
// reason to fail for SHA-256 but can: an allocation) makes Final() nullopt.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    ok_ = ctx_ != nullptr && EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) == 1;
  }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view s) {
    if (ok_ && !s.empty()) ok_ = EVP_DigestUpdate(ctx_, s.data(), s.size()) == 1;
  }
  void U64(uint64_t v) {
    char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
    Update(std::string_view(b, 8));
  }
  void Bytes(std::string_view s) {  // length-prefixed: no two sequences of fields collide
    U64(s.size());
    Update(s);
  }
  std::optional<std::string> Final() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!ok_ || EVP_DigestFinal_ex(ctx_, out, &n) != 1 || n != cache_format::kChecksumBytes)
      return std::nullopt;
    return std::string(reinterpret_cast<const char*>(out), n);
  }

 private:
  EVP_MD_CTX* ctx_;
  bool ok_ = false;
};

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// What Digest() returns: the only names Lookup and Store accept (never "..", "/" or a temp name).
bool ValidDigest(std::string_view d) {
  return d.size() == kDigestHex && std::all_of(d.begin(), d.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

int64_t Ns(const struct timespec& t) { return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec; }

int64_t NowNs() {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return Ns(t);
}

// Little-endian, fixed width.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  void U8(uint8_t v) { out_ += static_cast<char>(v); }
  void U32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_ += static_cast<char>(v >> (8 * i));
  }
  void U64(uint64_t v) {
    for (int i = 0; i < 8; ++i) out_ += static_cast<char>(v >> (8 * i));
  }
  void I32(int32_t v) { U32(static_cast<uint32_t>(v)); }
  void F64(double v) { U64(std::bit_cast<uint64_t>(v)); }
  void Bytes(std::string_view s) {
    U64(s.size());
    out_ += s;
  }
  void OptI32(const std::optional<int>& v) {
    U8(v.has_value());
    I32(v.value_or(0));
  }

 private:
  std::string& out_;
};

// Reads what Writer wrote; each call false when the bytes end first.
class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  size_t left() const { return b_.size() - pos_; }
  bool U8(uint8_t& v) {
    if (left() < 1) return false;
    v = static_cast<uint8_t>(b_[pos_++]);
    return true;
  }
  bool U32(uint32_t& v) {
    if (left() < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(b_[pos_++])} << (8 * i);
    return true;
  }
  bool U64(uint64_t& v) {
    if (left() < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<uint8_t>(b_[pos_++])} << (8 * i);
    return true;
  }
  bool F64(double& v) {
    uint64_t bits;
    if (!U64(bits)) return false;
    v = std::bit_cast<double>(bits);
    return true;
  }
  bool Bytes(std::string_view& s) {
    uint64_t n;
    if (!U64(n) || n > left()) return false;
    s = b_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  // A flag: 0 or 1.
  bool Bool(bool& v) {
    uint8_t b;
    if (!U8(b) || b > 1) return false;
    v = b == 1;
    return true;
  }
  bool OptI32(std::optional<int>& v) {
    bool present;
    uint32_t bits;
    if (!Bool(present) || !U32(bits)) return false;
    if (present) v = static_cast<int32_t>(bits);
    return present || bits == 0;
  }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

// What a stored entry's record may hold, beyond its encoding: checked before Store writes it and
// after Lookup reads it.
std::string RecordProblem(const CacheEntry& e) {
  int status = static_cast<int>(e.build.status);
  if (status < 0 || status > static_cast<int>(TaskStatus::kOk))
    return "status " + std::to_string(status) + " is not a task status";
  for (double ms : {e.build.wall_ms, e.build.cpu_ms}) {
    if (!std::isfinite(ms) || ms < 0) return "a time is negative or not finite";
  }
  return cache_format::FilesProblem(e.files);
}

uint64_t EncodedSize(std::string_view digest, const CacheEntry& e) {
  const BuildResult& b = e.build;
  uint64_t n = cache_format::kMagic.size() + 4 + 8 + digest.size() + 4 + 2 * 5 + 8 +
               b.stdout_data.size() + 8 + b.stderr_data.size() + 2 + 8 + 8 + 8 + 1 + 8 +
               (b.error ? b.error->size() : 0) + 8 + cache_format::kChecksumBytes;
  for (const auto& [path, content] : e.files) n += 16 + path.size() + content.size();
  return n;
}

}  // namespace

namespace cache_format {

std::string FilesProblem(const std::map<std::string, std::string>& files) {
  for (const auto& [path, content] : files) {
    std::string problem = jobs::PathProblem(path);
    if (!problem.empty()) return "a file's " + problem;
  }
  // As jobs::ReadFiles: "a" and "a/b" cannot both be written; look each directory up.
  for (const auto& [path, content] : files) {
    for (size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      if (files.contains(path.substr(0, slash)))
        return "a path is both a file and a directory of another";
    }
  }
  return {};
}

std::string EncodeBody(std::string_view digest, const CacheEntry& entry) {
  const BuildResult& b = entry.build;
  std::string out;
  out.reserve(EncodedSize(digest, entry));
  Writer w(out);
  out += kMagic;
  w.U32(kVersion);
  w.Bytes(digest);
  w.U32(static_cast<uint32_t>(b.status));
  w.OptI32(b.exit_code);
  w.OptI32(b.signal);
  w.Bytes(b.stdout_data);
  w.Bytes(b.stderr_data);
  w.U8(b.stdout_truncated);
  w.U8(b.stderr_truncated);
  w.F64(b.wall_ms);
  w.F64(b.cpu_ms);
  w.U64(b.peak_memory_bytes);
  w.U8(b.error.has_value());
  w.Bytes(b.error.value_or(""));
  w.U64(entry.files.size());
  for (const auto& [path, content] : entry.files) {
    w.Bytes(path);
    w.Bytes(content);
  }
  return out;
}

std::string Seal(std::string body) {
  Sha256 h;
  h.Update(body);
  std::optional<std::string> sum = h.Final();
  // Without a checksum the entry is unreadable, which is what a failed seal should give.
  body += sum ? *sum : std::string(kChecksumBytes, '\0');
  return body;
}

std::string Problem(std::string_view bytes, std::string_view digest, uint64_t cap,
                    CacheEntry* out) {
  if (bytes.size() > cap)
    return "entry of " + std::to_string(bytes.size()) + " bytes is over the cap of " +
           std::to_string(cap);
  if (bytes.size() < kMagic.size() + kChecksumBytes) return "entry is too short";
  if (bytes.substr(0, kMagic.size()) != kMagic) return "wrong magic";
  std::string_view body = bytes.substr(0, bytes.size() - kChecksumBytes);
  Sha256 h;
  h.Update(body);
  std::optional<std::string> sum = h.Final();
  if (!sum || *sum != bytes.substr(body.size())) return "checksum mismatch";

  Reader r(body.substr(kMagic.size()));
  const std::string past = " past the end";
  uint32_t version;
  if (!r.U32(version)) return "version" + past;
  if (version != kVersion)
    return "format version " + std::to_string(version) + ", not " + std::to_string(kVersion);
  std::string_view name;
  if (!r.Bytes(name)) return "digest" + past;
  if (name != digest) return "entry is another key's";

  CacheEntry e;
  BuildResult& b = e.build;
  uint32_t status;
  if (!r.U32(status)) return "status" + past;
  if (status > static_cast<uint32_t>(TaskStatus::kOk))
    return "status " + std::to_string(status) + " is not a task status";
  b.status = static_cast<TaskStatus>(status);
  if (!r.OptI32(b.exit_code)) return "exit_code" + past + " or malformed";
  if (!r.OptI32(b.signal)) return "signal" + past + " or malformed";
  std::string_view stdout_data, stderr_data, error;
  if (!r.Bytes(stdout_data)) return "stdout" + past;
  if (!r.Bytes(stderr_data)) return "stderr" + past;
  if (!r.Bool(b.stdout_truncated) || !r.Bool(b.stderr_truncated))
    return "truncated flags" + past + " or not 0 or 1";
  if (!r.F64(b.wall_ms) || !r.F64(b.cpu_ms)) return "times" + past;
  if (!r.U64(b.peak_memory_bytes)) return "peak_memory_bytes" + past;
  bool has_error;
  if (!r.Bool(has_error) || !r.Bytes(error)) return "error" + past + " or malformed";
  if (!has_error && !error.empty()) return "an absent error has text";
  b.stdout_data = stdout_data;
  b.stderr_data = stderr_data;
  if (has_error) b.error = std::string(error);

  uint64_t count;
  if (!r.U64(count)) return "file count" + past;
  if (count > r.left() / 16) return "file count " + std::to_string(count) + past;
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view path, content;
    if (!r.Bytes(path)) return "file " + std::to_string(i) + "'s path" + past;
    if (!r.Bytes(content)) return "file " + std::to_string(i) + "'s content" + past;
    // std::map's order (bytes as unsigned): one encoding per workspace, no path twice.
    if (!e.files.empty() && !(e.files.rbegin()->first < path))
      return "file " + std::to_string(i) + "'s path is out of order or repeated";
    e.files.emplace_hint(e.files.end(), path, content);
  }
  if (r.left() != 0) return std::to_string(r.left()) + " bytes after the last file";
  std::string problem = RecordProblem(e);
  if (!problem.empty()) return problem;
  if (out != nullptr) *out = std::move(e);
  return {};
}

}  // namespace cache_format

std::string cache_format::KeyDigest(const BuildKey& key, std::string_view version) {
  try {
    Sha256 h;
    h.Bytes(kKeyDomain);
    h.Bytes(version);
    h.Bytes(key.partition);
    h.Bytes(key.profile);
    h.U64(key.argv.size());
    for (const std::string& a : key.argv) h.Bytes(a);
    h.U64(key.env.size());
    for (const auto& [name, value] : key.env) {
      h.Bytes(name);
      h.Bytes(value);
    }
    h.U64(key.files.size());
    for (const auto& [path, content] : key.files) {
      h.Bytes(path);
      h.Bytes(content);
    }
    Limits l = key.limits.Resolved();
    for (int64_t v : {l.wall_ms, l.cpu_ms, l.memory_mb, l.disk_mb, l.pids, l.output_bytes})
      h.U64(static_cast<uint64_t>(v));
    h.U64(std::bit_cast<uint64_t>(l.cpus));
    h.Bytes(key.cwd);
    std::optional<std::string> sum = h.Final();
    return sum ? Hex(*sum) : std::string();
  } catch (...) {  // std::bad_alloc
    return {};
  }
}

std::string BuildCache::Digest(const BuildKey& key) {
  return cache_format::KeyDigest(key, BROOD_VERSION);
}

struct BuildCache::Impl {
  sys::UniqueFd dir;
  uint64_t max_bytes = 0;
  uint64_t cap = 0;  // the largest entry read back: max(kSnapshotMax, max_bytes)

  mutable std::mutex mu;  // guards everything below
  struct Item {
    uint64_t size;
    int64_t stamp;  // the file's mtime (ns): when it was last stored or used
  };
  std::unordered_map<std::string, Item> items;
  std::set<std::pair<int64_t, std::string>> order;  // (stamp, digest): least recently used first
  uint64_t total = 0;
  int64_t last_stamp = 0;
  Stats stats;

  // A stamp later than every one this process gave, so that two uses in one clock tick keep
  // their order on disk (and across a restart).
  int64_t NextStamp() {
    last_stamp = std::max(NowNs(), last_stamp + 1);
    return last_stamp;
  }
  void Put(const std::string& digest, uint64_t size, int64_t stamp) {
    Drop(digest);
    items.emplace(digest, Item{size, stamp});
    order.emplace(stamp, digest);
    total += size;
  }
  void Drop(const std::string& digest) {
    auto it = items.find(digest);
    if (it == items.end()) return;
    order.erase({it->second.stamp, digest});
    total -= it->second.size;
    items.erase(it);
  }

  // Removes `name` if it is still the file `st` describes (another process may have renamed a
  // fresh entry over it since).
  void RemoveIfSame(const std::string& name, const struct stat& st) {
    struct stat now;
    if (fstatat(dir.get(), name.c_str(), &now, AT_SYMLINK_NOFOLLOW) == 0 &&
        now.st_dev == st.st_dev && now.st_ino == st.st_ino) {
      unlinkat(dir.get(), name.c_str(), S_ISDIR(now.st_mode) ? AT_REMOVEDIR : 0);
    }
  }
  // After a miss: forgets `digest` unless its name holds a file again (a Store of this process
  // may have renamed one there since the miss: Stores rename under `mu`).
  void ForgetLocked(const std::string& digest) {
    struct stat st;
    if (fstatat(dir.get(), digest.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) Drop(digest);
  }

  // Evicts least recently used entries until the total fits. An entry another process used
  // since this one last looked (its mtime is later) moves to its place instead; one another
  // process removed is forgotten.
  void EvictLocked() {
    while (total > max_bytes && !order.empty()) {
      std::string digest = order.begin()->second;
      int64_t stamp = order.begin()->first;
      struct stat st;
      if (fstatat(dir.get(), digest.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        Drop(digest);  // ENOENT: gone already; anything else: nothing this process can do
        continue;
      }
      int64_t mtime = Ns(st.st_mtim);
      if (S_ISREG(st.st_mode) && mtime > stamp) {
        Put(digest, static_cast<uint64_t>(st.st_size), mtime);
        last_stamp = std::max(last_stamp, mtime);
        continue;
      }
      if (unlinkat(dir.get(), digest.c_str(), 0) == 0) ++stats.evicted;
      Drop(digest);
    }
  }

  // Indexes the directory: entries by their mtime; temporary files older than an hour (a
  // process died between writing and renaming) and anything else under a digest's name that is
  // not a regular file are removed; other names are left alone.
  void Scan() {
    int dup_fd = fcntl(dir.get(), F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0) return;
    std::unique_ptr<DIR, int (*)(DIR*)> d(fdopendir(dup_fd), closedir);
    if (d == nullptr) {
      close(dup_fd);
      return;
    }
    int64_t now = NowNs();
    std::lock_guard lock(mu);
    while (struct dirent* de = readdir(d.get())) {
      std::string name = de->d_name;
      struct stat st;
      bool temp = name.starts_with(kTempPrefix);
      if (!temp && !ValidDigest(name)) continue;
      if (fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (temp) {
        if (!S_ISDIR(st.st_mode) && now - Ns(st.st_mtim) > kStaleTempNs)
          unlinkat(dir.get(), name.c_str(), 0);
        continue;
      }
      if (S_ISDIR(st.st_mode)) continue;  // not brood's doing: Lookup misses it
      if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) > cap) {
        unlinkat(dir.get(), name.c_str(), 0);
        ++stats.invalid_removed;
        continue;
      }
      Put(name, static_cast<uint64_t>(st.st_size), Ns(st.st_mtim));
      last_stamp = std::max(last_stamp, Ns(st.st_mtim));
    }
    EvictLocked();
  }

  std::optional<CacheEntry> Read(const std::string& digest) {
    if (!ValidDigest(digest)) return std::nullopt;
    sys::UniqueFd fd(openat(dir.get(), digest.c_str(),
                            O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    if (!fd) {
      int err = errno;
      std::lock_guard lock(mu);
      struct stat st;
      if (err == ELOOP && fstatat(dir.get(), digest.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISLNK(st.st_mode)) {
        unlinkat(dir.get(), digest.c_str(), 0);  // a symlink is never brood's: removed unfollowed
        ++stats.invalid_removed;
      }
      ForgetLocked(digest);  // ENOENT: never stored, evicted, or removed by another process
      return std::nullopt;
    }
    struct stat st;
    if (fstat(fd.get(), &st) != 0) return std::nullopt;
    std::string bytes;
    bool readable = S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) <= cap;
    if (readable) {
      bytes.resize(static_cast<size_t>(st.st_size));
      size_t got = 0;
      while (got < bytes.size()) {
        ssize_t n =
            pread(fd.get(), bytes.data() + got, bytes.size() - got, static_cast<off_t>(got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<size_t>(n);
      }
      readable = got == bytes.size();
    }
    CacheEntry entry;
    if (!readable || !cache_format::Problem(bytes, digest, cap, &entry).empty()) {
      std::lock_guard lock(mu);
      RemoveIfSame(digest, st);
      ++stats.invalid_removed;
      ForgetLocked(digest);
      return std::nullopt;
    }
    bytes.clear();
    bytes.shrink_to_fit();

    std::lock_guard lock(mu);
    int64_t stamp = NextStamp();
    struct timespec times[2] = {{0, UTIME_OMIT}, {stamp / 1000000000, stamp % 1000000000}};
    futimens(fd.get(), times);  // the order survives a restart (a failure: only this index knows)
    // Indexed when the name is still this file (a Store of this process or another may have
    // replaced it, an eviction removed it: their index entry stands).
    struct stat now;
    if (fstatat(dir.get(), digest.c_str(), &now, AT_SYMLINK_NOFOLLOW) == 0 &&
        now.st_dev == st.st_dev && now.st_ino == st.st_ino) {
      Put(digest, static_cast<uint64_t>(st.st_size), stamp);
      EvictLocked();  // another process's entry, new to this index, may take it past max_bytes
    }
    return entry;
  }

  void Write(const std::string& digest, const CacheEntry& entry) {
    TaskStatus status = entry.build.status;
    // sandbox_error and invalid_job say nothing of the build itself (the host failed, or brood
    // refused it before it ran): a later identical build may well succeed.
    bool refused = !ValidDigest(digest) || status == TaskStatus::kSandboxError ||
                   status == TaskStatus::kInvalidJob || !RecordProblem(entry).empty() ||
                   EncodedSize(digest, entry) > std::min(max_bytes, cap);
    if (refused) {
      std::lock_guard lock(mu);
      ++stats.not_stored;
      return;
    }
    std::string bytes = cache_format::Encode(digest, entry);

    // A name no other writer picks: this process's pid and 64 random bits.
    std::string tmp;
    sys::UniqueFd fd;
    for (int attempt = 0; attempt < 4 && !fd; ++attempt) {
      uint64_t nonce = 0;
      if (getrandom(&nonce, sizeof nonce, GRND_NONBLOCK) != sizeof nonce)
        nonce = static_cast<uint64_t>(NowNs()) + static_cast<uint64_t>(attempt);
      tmp = std::string(kTempPrefix) + std::to_string(getpid()) + "-" +
            Hex(std::string_view(reinterpret_cast<const char*>(&nonce), sizeof nonce));
      fd.reset(openat(dir.get(), tmp.c_str(),
                      O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600));
      if (!fd && errno != EEXIST) break;
    }
    bool ok = fd.valid();
    for (size_t off = 0; ok && off < bytes.size();) {
      ssize_t n = write(fd.get(), bytes.data() + off, bytes.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        ok = false;
      else
        off += static_cast<size_t>(n);
    }

    std::lock_guard lock(mu);
    if (ok) {
      int64_t stamp = NextStamp();
      struct timespec times[2] = {{0, UTIME_OMIT}, {stamp / 1000000000, stamp % 1000000000}};
      ok = futimens(fd.get(), times) == 0 &&
           renameat(dir.get(), tmp.c_str(), dir.get(), digest.c_str()) == 0;
      if (ok) {
        Put(digest, bytes.size(), stamp);
        ++stats.stores;
        EvictLocked();
      }
    }
    if (!ok) {
      if (fd) unlinkat(dir.get(), tmp.c_str(), 0);
      ++stats.store_failures;
    }
  }
};

sys::StatusOr<std::unique_ptr<BuildCache>> BuildCache::Open(const std::string& dir_in,
                                                            uint64_t max_bytes) {
  try {
    // "link/" would follow the link whatever O_NOFOLLOW says.
    std::string dir = dir_in;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    auto refuse = [&](const std::string& why) {
      return sys::Status::Error(ErrorKind::kInvalidArgument, "build cache: " + dir + " " + why);
    };
    if (dir.empty()) return refuse("is not a directory name");
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      return sys::PosixError("mkdir(" + dir + ")").Wrap("build cache");
    sys::UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
      int err = errno;
      struct stat st;
      if (lstat(dir.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
        return refuse("is a symlink (refused: the cache must be a directory of its own)");
      if (err == ENOTDIR) return refuse("is not a directory");
      return sys::PosixError("open(" + dir + ")", err).Wrap("build cache");
    }
    struct stat st;
    if (fstat(fd.get(), &st) != 0) return sys::PosixError("fstat(" + dir + ")").Wrap("build cache");
    if (!S_ISDIR(st.st_mode)) return refuse("is not a directory");
    if (st.st_uid != geteuid())
      return refuse("is owned by uid " + std::to_string(st.st_uid) + ", not by brood's (uid " +
                    std::to_string(geteuid()) + ")");
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
      char mode[8];
      snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
      return refuse("is writable by its group or others (mode " + std::string(mode) +
                    "): another user could plant entries; chmod 0700 it");
    }

    std::unique_ptr<BuildCache> cache(new BuildCache());
    cache->impl_ = std::make_shared<Impl>();
    Impl& m = *cache->impl_;
    m.dir = std::move(fd);
    m.max_bytes = max_bytes;
    m.cap = std::max<uint64_t>(kSnapshotMax, max_bytes);
    m.Scan();
    return cache;
  } catch (const std::exception& e) {  // std::bad_alloc
    return sys::Status::Error(ErrorKind::kResourceExhausted,
                              std::string("build cache: ") + e.what());
  }
}

std::optional<CacheEntry> BuildCache::Lookup(const std::string& digest) {
  std::optional<CacheEntry> got;
  try {
    got = impl_->Read(digest);
  } catch (...) {  // std::bad_alloc: a miss
    got.reset();
  }
  std::lock_guard lock(impl_->mu);
  ++(got ? impl_->stats.hits : impl_->stats.misses);
  return got;
}

void BuildCache::Store(const std::string& digest, const CacheEntry& entry) {
  try {
    impl_->Write(digest, entry);
  } catch (...) {  // std::bad_alloc
    std::lock_guard lock(impl_->mu);
    ++impl_->stats.store_failures;
  }
}

uint64_t BuildCache::bytes() const {
  std::lock_guard lock(impl_->mu);
  return impl_->total;
}

BuildCache::Stats BuildCache::stats() const {
  std::lock_guard lock(impl_->mu);
  Stats s = impl_->stats;
  s.entries = impl_->items.size();
  return s;
}

}  // namespace brood::eval
