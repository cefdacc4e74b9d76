#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

#include "doctor/check.hpp"
#include "sys/fd.hpp"

namespace brood::doctor {

std::optional<std::string> ReadSmallFile(const std::string& path) {
  sys::UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    text.append(buf, n);
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

std::optional<long> ReadSysctl(const std::string& name) {
  std::string path = "/proc/sys/" + name;
  for (char& c : path) {
    if (c == '.') c = '/';
  }
  std::optional<std::string> text = ReadSmallFile(path);
  if (!text || text->empty()) return std::nullopt;
  char* end = nullptr;
  long value = std::strtol(text->c_str(), &end, 10);
  if (end == text->c_str()) return std::nullopt;
  return value;
}

std::vector<sys::MountInfo> ReadMounts() {
  std::optional<std::string> text = ReadSmallFile("/proc/self/mountinfo");
  if (!text) return {};
  return sys::ParseMountInfo(*text);
}

Host ReadHost() {
  Host host;
  // The effective ids decide what the kernel lets brood do.
  host.uid = geteuid();
  host.gid = getegid();
  host.user = std::to_string(host.uid);
  passwd pw, *found = nullptr;
  char buf[4096];
  if (getpwuid_r(host.uid, &pw, buf, sizeof buf, &found) == 0 && found) host.user = pw.pw_name;
  host.max_user_namespaces = ReadSysctl("user.max_user_namespaces");
  host.unprivileged_userns_clone = ReadSysctl("kernel.unprivileged_userns_clone");
  host.apparmor_restrict_userns = ReadSysctl("kernel.apparmor_restrict_unprivileged_userns");
  return host;
}

}  // namespace brood::doctor
