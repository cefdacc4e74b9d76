#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

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

namespace {

std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

bool Mount::HasOption(const std::string& option) const {
  std::string opts = "," + super_options + ",";
  return opts.find("," + option + ",") != std::string::npos;
}

std::vector<Mount> ReadMounts() {
  std::vector<Mount> mounts;
  std::optional<std::string> text = ReadSmallFile("/proc/self/mountinfo");
  if (!text) return mounts;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    // id parent major:minor root mount-point options [optional fields...] - type source super
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string word; fields >> word;) f.push_back(word);
    auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 5 || dash == f.end() || f.end() - dash < 4) continue;
    mounts.push_back({Unescape(f[3]), Unescape(f[4]), dash[1], dash[3]});
  }
  return mounts;
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
