// Runs a blocking call (an engine call that takes milliseconds) off the server's io thread:
//
//   auto usage = co_await Offload(io, pool, [s] { return s->Usage(); });
//
// `f` runs on `executor` (a thread pool, or a strand of one for calls that must not overlap);
// the awaiting coroutine resumes on the io thread with f's value. f must not throw, and must
// return a value (what it returns is moved back to the io thread).
#pragma once

// clang-format off
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange unincluded
#include <boost/asio.hpp>
// clang-format on

#include <type_traits>

namespace brood::server {

template <typename Executor, typename F>
boost::asio::awaitable<std::invoke_result_t<F&>> Offload(boost::asio::io_context& io,
                                                         Executor executor, F f) {
  namespace net = boost::asio;
  using R = std::invoke_result_t<F&>;
  return net::async_initiate<const net::use_awaitable_t<>&, void(R)>(
      [&io, executor, f = std::move(f)](auto handler) mutable {
        // The guard keeps io.run() from returning while the call is away.
        net::post(executor, [&io, guard = net::make_work_guard(io), f = std::move(f),
                             handler = std::move(handler)]() mutable {
          R value = f();
          net::post(io, [handler = std::move(handler), value = std::move(value)]() mutable {
            handler(std::move(value));
          });
        });
      },
      net::use_awaitable);
}

}  // namespace brood::server
