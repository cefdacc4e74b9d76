// ASSERT_OK / EXPECT_OK for sys::Status and sys::StatusOr: on failure they print the error's
// kind and message ("host_unsupported: mount(...): EPERM ..."), not just "false".
#pragma once

#include <gtest/gtest.h>

#include "sys/status.hpp"

namespace brood::testing {

inline const sys::Status& StatusOf(const sys::Status& s) { return s; }
template <typename T>
const sys::Status& StatusOf(const sys::StatusOr<T>& s) {
  return s.status();
}

}  // namespace brood::testing

#define BROOD_STATUS_OK_IMPL(expr, fail)                                               \
  do {                                                                                 \
    const auto& _brood_st = ::brood::testing::StatusOf(expr);                          \
    if (!_brood_st.ok()) fail() << #expr << ": " << ::brood::sys::ToString(_brood_st); \
  } while (0)
#define ASSERT_OK(expr) BROOD_STATUS_OK_IMPL(expr, FAIL)
#define EXPECT_OK(expr) BROOD_STATUS_OK_IMPL(expr, ADD_FAILURE)
