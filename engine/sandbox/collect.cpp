#include "sandbox/collect.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobs/codec.hpp"
#include "zygote/wire.hpp"

namespace brood::sandbox {
namespace {

constexpr uint32_t kMagic = 0x636f6c6c;  // "coll"
constexpr int kMaxDepth = 64;

struct Walk {
  const std::vector<std::string>& patterns;
  Collected out;
  size_t total = 0;

  bool Matches(const std::string& rel) const {
    for (const auto& p : patterns)
      if (fnmatch(p.c_str(), rel.c_str(), FNM_PATHNAME) == 0) return true;
    return false;
  }

  void File(int dir, const char* name, const std::string& rel) {
    // Result records are JSON: a name that is not UTF-8 could only be shown mangled, and two such
    // names could collapse into one key.
    if (!jobs::IsValidUtf8(rel)) {
      out.left_out.push_back(rel + ": name is not valid UTF-8");
      return;
    }
    int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      out.left_out.push_back(rel + ": not a regular file");
      if (fd >= 0) close(fd);
      return;
    }
    if (static_cast<size_t>(st.st_size) > kCollectFileMax) {
      out.left_out.push_back(rel + ": larger than 1 MiB (" + std::to_string(st.st_size) +
                             " bytes)");
    } else if (total + static_cast<size_t>(st.st_size) > kCollectTaskMax) {
      out.left_out.push_back(rel + ": over the 8 MiB a task may return");
    } else {
      std::string data(static_cast<size_t>(st.st_size), '\0');
      ssize_t n = pread(fd, data.data(), data.size(), 0);
      data.resize(n > 0 ? static_cast<size_t>(n) : 0);
      total += data.size();
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
      } else if (Matches(rel)) {
        File(dirfd(d), e->d_name, rel);
      }
    }
    closedir(d);
  }
};

}  // namespace

int CollectInto(int out_fd, const std::vector<std::string>& patterns) {
  int ws = open("/workspace", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (ws < 0) return errno;
  Walk walk{patterns, {}, 0};
  walk.Dir(ws, "", 0);
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
