// What a sandbox is built for before any job arrives: the network it has and the root it sees.
// A slot's warm zygotes are each made for one profile; a job runs in a zygote of its own.
//
// A profile comes only from what the engine's owner configured (EngineOptions::roots) and from
// job fields the contract defines (`network`, `root` naming one of the owner's roots): a job
// never names a host path. Later an environment layer (a root made by setup commands) is one
// more field here.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "brood/job.hpp"

namespace brood {

struct SandboxProfile {
  Network network = Network::kNone;
  std::string root;  // a name in EngineOptions::roots; "": EngineOptions::root_dir

  bool operator==(const SandboxProfile&) const = default;
  // For logs and metrics: "none", "host", "none/python", ...
  std::string Name() const {
    return (network == Network::kHost ? "host" : "none") + (root.empty() ? "" : "/" + root);
  }
};

// The profile a job runs under.
inline SandboxProfile ProfileOf(const Job& job) { return {job.network, job.root}; }

}  // namespace brood

template <>
struct std::hash<brood::SandboxProfile> {
  size_t operator()(const brood::SandboxProfile& p) const noexcept {
    return std::hash<std::string>()(p.root) * 31 + static_cast<size_t>(p.network);
  }
};
