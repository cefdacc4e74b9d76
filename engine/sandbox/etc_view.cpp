// The /etc a sandboxed program sees. An allow-list, never a copy of the host's /etc minus a
// deny-list: what is not named here does not exist inside.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "sandbox/root.hpp"
#include "sys/fd.hpp"

namespace brood::sandbox {
namespace {

// Files and directories programs need: the dynamic loader, name service, time, TLS roots,
// locale, and interpreter configuration. Directories are bound read-only, files copied.
constexpr const char* kEtcAllowList[] = {"ld.so.cache",
                                         "ld.so.conf",
                                         "ld.so.conf.d",
                                         "alternatives",
                                         "nsswitch.conf",
                                         "host.conf",
                                         "hosts",
                                         "resolv.conf",
                                         "gai.conf",
                                         "services",
                                         "protocols",
                                         "localtime",
                                         "timezone",
                                         "ssl/certs",
                                         "ssl/openssl.cnf",
                                         "ca-certificates",
                                         "ca-certificates.conf",
                                         "locale.alias",
                                         "locale.conf",
                                         "default/locale",
                                         "mime.types",
                                         "os-release",
                                         "debian_version",
                                         "inputrc",
                                         "bash.bashrc",
                                         "profile",
                                         "environment",
                                         "python3",
                                         "python3.11",
                                         "perl",
                                         "gdb",
                                         "magic",
                                         "java-17-openjdk",
                                         "fonts",
                                         "mailcap"};

constexpr char kPasswd[] =
    "root:x:0:0:root:/root:/usr/sbin/nologin\n"
    "sandbox:x:1000:1000:brood sandbox:/workspace:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
constexpr char kGroup[] =
    "root:x:0:\n"
    "sandbox:x:1000:\n"
    "nogroup:x:65534:\n";

sys::Status WriteFile(const std::string& path, std::string_view content, mode_t mode) {
  sys::UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd) return sys::PosixError("open(" + path + ")");
  while (!content.empty()) {
    ssize_t n = write(fd.get(), content.data(), content.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys::PosixError("write(" + path + ")");
    content.remove_prefix(static_cast<size_t>(n));
  }
  return sys::OkStatus();
}

sys::Status CopyFile(const std::string& from, const std::string& to) {
  sys::UniqueFd in(open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) return sys::OkStatus();  // unreadable on the host: leave it out
  std::string data;
  char buf[16384];
  for (;;) {
    ssize_t n = read(in.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > (16u << 20)) return sys::OkStatus();  // not a config file
  }
  return WriteFile(to, data, 0644);
}

sys::Status MkdirP(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      std::string p = path.substr(0, i);
      if (mkdir(p.c_str(), 0755) != 0 && errno != EEXIST)
        return sys::PosixError("mkdir(" + p + ")");
    }
  }
  return sys::OkStatus();
}

}  // namespace

sys::Status BuildEtcView(const std::string& source_etc, const std::string& etc_dir) {
  for (const char* name : kEtcAllowList) {
    std::string from = source_etc + "/" + name;
    std::string to = etc_dir + "/" + name;
    struct stat st;
    if (lstat(from.c_str(), &st) != 0) continue;
    if (auto slash = to.rfind('/'); slash != std::string::npos)
      BROOD_RETURN_IF_ERROR(MkdirP(to.substr(0, slash)));
    if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = readlink(from.c_str(), target, sizeof target - 1);
      if (n <= 0) continue;
      target[n] = 0;
      if (symlink(target, to.c_str()) != 0) return sys::PosixError("symlink(" + to + ")");
    } else if (S_ISDIR(st.st_mode)) {
      if (mkdir(to.c_str(), 0755) != 0) return sys::PosixError("mkdir(" + to + ")");
      BROOD_RETURN_IF_ERROR(BindTreeReadOnly(from, to));
    } else if (S_ISREG(st.st_mode)) {
      BROOD_RETURN_IF_ERROR(CopyFile(from, to));
    }
  }
  BROOD_RETURN_IF_ERROR(WriteFile(etc_dir + "/passwd", kPasswd, 0644));
  BROOD_RETURN_IF_ERROR(WriteFile(etc_dir + "/group", kGroup, 0644));
  BROOD_RETURN_IF_ERROR(WriteFile(etc_dir + "/hostname", "brood\n", 0644));
  if (symlink("/proc/self/mounts", (etc_dir + "/mtab").c_str()) != 0)
    return sys::PosixError("symlink(" + etc_dir + "/mtab)");
  return sys::OkStatus();
}

}  // namespace brood::sandbox
