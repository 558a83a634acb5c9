// socket_write: see socket_write.hpp.
#include "core/net/socket_write.hpp"

#include <asio/buffer.hpp>

namespace relayguard::net {

std::size_t writeWithoutWaiting(asio::ip::tcp::socket& socket, std::string_view data,
                                std::error_code& ec) {
  ec.clear();
  std::size_t written = 0;
  if (!socket.non_blocking()) {
    return written;  // a write could wait: all of it is left to the caller's bounded path
  }
  while (written < data.size()) {
    const std::size_t n =
        socket.write_some(asio::buffer(data.data() + written, data.size() - written), ec);
    if (ec) {
      if (wouldBlock(ec)) {
        ec.clear();
      }
      break;
    }
    written += n;
  }
  return written;
}

}  // namespace relayguard::net
