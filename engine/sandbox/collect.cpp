#include "sandbox/collect.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include "brood/job.hpp"
#include "jobs/codec.hpp"
#include "zygote/wire.hpp"

namespace brood::sandbox {
namespace {

constexpr uint32_t kMagic = 0x636f6c6c;  // "coll"
constexpr int kMaxDepth = 64;
// What is left out is named, but a task controls how many names there are and how long each is
// (paths below /workspace have no length limit): each is shortened, and past kLeftOutMax bytes
// the rest are only counted, so the result stays small however the workspace is shaped.
constexpr size_t kLeftOutNameMax = 512;
constexpr size_t kLeftOutMax = 64u << 10;

struct Walk {
  const std::vector<std::string>& patterns;
  bool snapshot = false;  // every regular file, silently skipping the rest
  size_t file_max = kCollectFileMax, task_max = kCollectTaskMax;
  Collected out;
  size_t total = 0;  // bytes of names and contents collected
  size_t left_out_bytes = 0, left_out_uncounted = 0;

  void LeaveOut(const std::string& rel, const std::string& why) {
    std::string entry = rel.size() > kLeftOutNameMax ? rel.substr(0, kLeftOutNameMax) + "..." : rel;
    entry += ": " + why;
    if (left_out_bytes + entry.size() > kLeftOutMax) {
      ++left_out_uncounted;
      return;
    }
    left_out_bytes += entry.size();
    out.left_out.push_back(std::move(entry));
  }

  bool Matches(const std::string& rel) const {
    if (snapshot) return true;
    for (const auto& p : patterns)
      if (fnmatch(p.c_str(), rel.c_str(), FNM_PATHNAME) == 0) return true;
    return false;
  }

  void File(int dir, const char* name, const std::string& rel) {
    // Result records are JSON: a name that is not UTF-8 could only be shown mangled, and two such
    // names could collapse into one key.
    if (!jobs::IsValidUtf8(rel)) {
      LeaveOut(rel, "name is not valid UTF-8");
      return;
    }
    int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      if (!snapshot) LeaveOut(rel, "not a regular file");
      if (fd >= 0) close(fd);
      return;
    }
    // Names count towards the task's 8 MiB too: thousands of empty files with long paths would
    // otherwise make a result of any size.
    if (static_cast<size_t>(st.st_size) > file_max) {
      LeaveOut(rel, "larger than " + std::to_string(file_max >> 20) + " MiB (" +
                        std::to_string(st.st_size) + " bytes)");
    } else if (total + rel.size() + static_cast<size_t>(st.st_size) > task_max) {
      LeaveOut(rel, "over the " + std::to_string(task_max >> 20) + " MiB a task may return");
    } else {
      std::string data(static_cast<size_t>(st.st_size), '\0');
      ssize_t n = pread(fd, data.data(), data.size(), 0);
      data.resize(n > 0 ? static_cast<size_t>(n) : 0);
      total += rel.size() + data.size();
      out.files[rel] = std::move(data);
    }
    close(fd);
  }

  void Dir(int dir, const std::string& prefix, int depth) {
    DIR* d = fdopendir(dir);
    if (!d) {
      close(dir);
      return;
    }
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string rel = prefix.empty() ? name : prefix + "/" + name;
      struct stat st;
      if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        if (depth >= kMaxDepth) continue;
        int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0) Dir(sub, rel, depth + 1);
      } else if (S_ISREG(st.st_mode) && Matches(rel)) {
        File(dirfd(d), e->d_name, rel);
      } else if (!snapshot && Matches(rel)) {
        File(dirfd(d), e->d_name, rel);
      }
    }
    closedir(d);
  }
};

}  // namespace

namespace {

int WalkInto(int out_fd, Walk& walk) {
  int ws = open("/workspace", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (ws < 0) return errno;
  walk.Dir(ws, "", 0);
  if (walk.left_out_uncounted > 0)
    walk.out.left_out.push_back("and " + std::to_string(walk.left_out_uncounted) + " more");
  zygote::WireWriter w;
  w.U32(kMagic);
  w.Map(walk.out.files);
  w.Strs(walk.out.left_out);
  const std::string& bytes = w.bytes();
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = pwrite(out_fd, bytes.data() + off, bytes.size() - off, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errno;
    off += static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace

int CollectInto(int out_fd, const std::vector<std::string>& patterns) {
  Walk walk{patterns};
  return WalkInto(out_fd, walk);
}

int SnapshotInto(int out_fd) {
  static const std::vector<std::string> kAll;
  Walk walk{kAll, /*snapshot=*/true, kSnapshotMax, kSnapshotMax};
  return WalkInto(out_fd, walk);
}

std::optional<Collected> DecodeCollected(std::string_view bytes) {
  zygote::WireReader r(bytes);
  if (r.U32() != kMagic) return std::nullopt;
  Collected c;
  c.files = r.Map();
  c.left_out = r.Strs();
  if (!r.done()) return std::nullopt;
  return c;
}

}  // namespace brood::sandbox
