// Which lines run, which become invalid_job results, and which --resume skips. Serial, in input
// order (first occurrence of an id wins). Memory: one entry per id (and per invalid line key).
#pragma once

#include <string>
#include <unordered_set>

#include "run/work.hpp"

namespace brood::run {

class Admission {
 public:
  explicit Admission(std::unordered_set<std::string> done) : done_(std::move(done)) {}
  // Sets w.kind (and w.result for an invalid line).
  void Decide(Work& w);

 private:
  void Invalid(Work& w, std::string error);
  std::unordered_set<std::string> done_;  // keys already in the results file
  std::unordered_set<std::string> seen_;  // ids of valid jobs so far
};

}  // namespace brood::run
