#include "targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  brood::fuzz::ServeRequest(data, size);
  return 0;
}
