#include "hostile/sentinels.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "jobs/codec.hpp"
#include "support/host_probe.hpp"

namespace brood::testing {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

size_t MountCount() {
  std::ifstream in("/proc/self/mountinfo");
  size_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

std::vector<std::string> EscapeTargets(const std::string& canary_dir) {
  std::vector<std::string> out;
  for (const char* dir : {"/", "/tmp", "/var/tmp", "/root", "/etc", "/dev/shm", "/run", "/usr"})
    out.push_back(std::string(dir) + (dir[1] ? "/" : "") + "brood-escaped");
  out.push_back(canary_dir + "/brood-escaped");
  char cwd[4096];
  if (getcwd(cwd, sizeof cwd)) out.push_back(std::string(cwd) + "/brood-escaped");
  return out;
}

HostSentinels::HostSentinels() {
  tcp_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof in;
  if (bind(tcp_, reinterpret_cast<sockaddr*>(&in), sizeof in) == 0 && listen(tcp_, 64) == 0 &&
      getsockname(tcp_, reinterpret_cast<sockaddr*>(&in), &len) == 0)
    ph_.host_port = ntohs(in.sin_port);
  ph_.abstract_name = "brood-hostile-" + std::to_string(getpid());
  unix_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  memcpy(un.sun_path + 1, ph_.abstract_name.data(), ph_.abstract_name.size());
  socklen_t ulen = offsetof(sockaddr_un, sun_path) + 1 + ph_.abstract_name.size();
  unix_ok_ = bind(unix_, reinterpret_cast<sockaddr*>(&un), ulen) == 0 && listen(unix_, 64) == 0;
  char dir[] = "/tmp/brood-hostile-XXXXXX";
  canary_dir_ = mkdtemp(dir) ? dir : "";
  ph_.canary_path = canary_dir_ + "/canary";
  ph_.secret = "brood-canary-" + std::to_string(std::random_device{}());
  std::ofstream(ph_.canary_path) << ph_.secret << "\n";
  chmod(canary_dir_.c_str(), 0755);
  chmod(ph_.canary_path.c_str(),
        0644);  // readable by anyone on the host: only the sandbox stops it
  ph_.unix_path = canary_dir_ + "/sock";
  path_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_un pn{};
  pn.sun_family = AF_UNIX;
  path_ok_ = ph_.unix_path.size() < sizeof pn.sun_path;
  memcpy(pn.sun_path, ph_.unix_path.c_str(), path_ok_ ? ph_.unix_path.size() : 0);
  path_ok_ = path_ok_ && bind(path_, reinterpret_cast<sockaddr*>(&pn), sizeof pn) == 0 &&
             listen(path_, 64) == 0 && chmod(ph_.unix_path.c_str(), 0777) == 0;
  ph_.probe_base64 = jobs::Base64Encode(Slurp(BROOD_PROBE));
  ph_.int80_signal = Int80OnThisHost().signal;
  watcher_ = std::thread([this] { Watch(); });
}

HostSentinels::~HostSentinels() {
  stop_ = true;
  watcher_.join();
  close(tcp_);
  close(unix_);
  close(path_);
  unlink(ph_.unix_path.c_str());
  unlink(ph_.canary_path.c_str());
  rmdir(canary_dir_.c_str());
}

void HostSentinels::Watch() {
  while (!stop_) {
    pollfd fds[3] = {{tcp_, POLLIN, 0}, {unix_, POLLIN, 0}, {path_, POLLIN, 0}};
    if (poll(fds, 3, 50) <= 0) continue;
    for (auto& p : fds)
      if (p.revents & POLLIN) {
        int c = accept4(p.fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) {
          ++connections_;
          close(c);
        }
      }
  }
}

}  // namespace brood::testing
