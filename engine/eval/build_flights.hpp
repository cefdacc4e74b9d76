// Builds in flight, by their cache digest: a second evaluation with the same build while the
// first is still running waits for it instead of building again (docs/build-cache.md). Only
// with the build cache on: its digest is the key.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "brood/result.hpp"

namespace brood::eval {

class BuildFlights {
 public:
  // The build's result when it landed; null when it did not end as itself (cancelled, a
  // sandbox error): the waiter then builds on its own.
  using Waiter = std::function<void(const Result*)>;

  // True: a build with `digest` is in flight and `waiter` will be called when it lands (on
  // the thread that lands it). False: none was; the caller's build is now the flight, and the
  // caller must Land it.
  bool Join(const std::string& digest, Waiter waiter) {
    std::lock_guard lock(mu_);
    auto [it, fresh] = flights_.try_emplace(digest);
    if (fresh) return false;
    it->second.push_back(std::move(waiter));
    return true;
  }

  // Ends the flight of `digest`, calling its waiters (outside the lock).
  void Land(const std::string& digest, const Result* result) {
    std::vector<Waiter> waiters;
    {
      std::lock_guard lock(mu_);
      auto it = flights_.find(digest);
      if (it == flights_.end()) return;
      waiters = std::move(it->second);
      flights_.erase(it);
    }
    for (auto& w : waiters) w(result);
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::vector<Waiter>> flights_;
};

}  // namespace brood::eval
