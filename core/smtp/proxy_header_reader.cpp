// proxy_header_reader: exact-length reads of a PROXY header (see proxy_header_reader.hpp).
#include "core/smtp/proxy_header_reader.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read.hpp>
#include <asio/use_awaitable.hpp>

namespace relayguard::smtp {

asio::awaitable<ProxyHeaderRead> readProxyHeader(asio::ip::tcp::socket& socket,
                                                 asio::steady_timer& timer,
                                                 std::chrono::steady_clock::duration timeout) {
  using namespace asio::experimental::awaitable_operators;
  constexpr auto kUseTuple = asio::experimental::as_tuple(asio::use_awaitable);
  timer.expires_after(timeout);
  std::string bytes;
  for (;;) {
    const net::ProxyParse parse = net::parseProxyHeader(bytes);
    if (parse.status == net::ProxyParse::Status::kDone) {
      co_return ProxyHeaderRead{parse.header, {}, false};
    }
    if (parse.status == net::ProxyParse::Status::kInvalid) {
      co_return ProxyHeaderRead{std::nullopt, parse.error, false};
    }
    const std::size_t old = bytes.size();
    bytes.resize(old + parse.need);
    const asio::mutable_buffer want(bytes.data() + old, parse.need);
    auto result =
        co_await (asio::async_read(socket, want, kUseTuple) || timer.async_wait(kUseTuple));
    if (result.index() == 1) {
      co_return ProxyHeaderRead{std::nullopt, "no complete PROXY header within the time limit",
                                false};
    }
    const auto [ec, n] = std::get<0>(result);
    if (ec) {
      const bool silent = ec == asio::error::eof && old == 0 && n == 0;
      co_return ProxyHeaderRead{std::nullopt,
                                ec == asio::error::eof
                                    ? "closed before a complete PROXY header"
                                    : "read failed before a complete PROXY header: " + ec.message(),
                                silent};
    }
    bytes.resize(old + n);
  }
}

}  // namespace relayguard::smtp
