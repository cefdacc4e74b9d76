// Which lines run, which become invalid_job results, and which --resume skips. Serial, in input
// order (first occurrence of an id wins). Memory: one entry per id (and per invalid line key).
#pragma once

#include <string>

#include "jobs/key_set.hpp"
#include "run/work.hpp"

namespace brood::run {

class Admission {
 public:
  // `keys`: what --resume found done (KeySet::kDone); ids seen in this run get kSeen.
  explicit Admission(jobs::KeySet keys) : keys_(std::move(keys)) {}
  // Sets w.kind (and w.result for an invalid line).
  void Decide(Work& w);

 private:
  void Invalid(Work& w, std::string error);
  jobs::KeySet keys_;
};

}  // namespace brood::run
