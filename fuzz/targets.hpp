// The fuzzed entry points, shared by the libFuzzer binaries (fuzz/*.cpp, a clang build with
// -DBROOD_FUZZ=ON) and by the regression test that replays the kept corpus (tests/fuzz/).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "brood/limits.hpp"
#include "jobs/job_parser.hpp"
#include "sandbox/collect.hpp"
#include "sandbox/task_spec.hpp"
#include "zygote/wire.hpp"
#include "zygote/zygote.hpp"

namespace brood::fuzz {

// A job file line: never crashes, and either a job or an error comes out.
inline void JobParser(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  jobs::ParsedJob p = jobs::ParseJobLine(line, LimitMaxima{});
  if (p.job.has_value() == !p.error.empty()) __builtin_trap();  // exactly one of the two
}

// What a zygote and the supervisor decode from each other: the task spec, the zygote config,
// the collect blob, and the generic reader.
inline void ZygoteWire(const uint8_t* data, size_t size) {
  if (size == 0) return;
  std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto spec = sandbox::DecodeTaskSpec(bytes);
      // What decodes encodes to something that decodes again.
      if (spec && !sandbox::DecodeTaskSpec(sandbox::EncodeTaskSpec(*spec))) __builtin_trap();
      break;
    }
    case 1: {
      auto config = zygote::DecodeZygoteConfig(bytes);
      if (config && !zygote::DecodeZygoteConfig(zygote::EncodeZygoteConfig(*config)))
        __builtin_trap();
      break;
    }
    case 2:
      (void)sandbox::DecodeCollected(bytes);
      break;
    case 3: {
      zygote::WireReader r(bytes);
      while (r.ok() && !r.done()) {
        (void)r.Strs();
        (void)r.Map();
        (void)r.I64();
      }
      break;
    }
  }
}

}  // namespace brood::fuzz
