// admin_server: the [admin] HTTP listener (cpp-httplib, on its own two threads, away from the
// SMTP I/O threads). It serves exactly two resources:
//   GET /metrics  the Prometheus text exposition (format 0.0.4) of the relay's metrics
//   GET /healthz  200 "ok" when the relay can take mail, else 503 with one line per problem
// Other methods on those paths get 405 (Allow: GET, HEAD), other paths 404. Neither has
// authentication, which is why the config keeps the listener on loopback unless allow_remote.
// Requests are small and bounded: no body is read, slow clients time out after 5 s.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/net/endpoint.hpp"
#include "core/server/health_check.hpp"

namespace httplib {
class Server;
}

namespace relayguard {

class AdminServer {
 public:
  struct Handlers {
    std::function<std::string()> metrics;  // the exposition text
    std::function<HealthReport()> health;
  };
  AdminServer(net::Endpoint address, Handlers handlers);
  ~AdminServer();  // stops and joins
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds the address (while serve may still be root, before it drops privileges). Throws
  // std::runtime_error naming the address when it cannot be bound (a start-up error of `serve`).
  void bind();
  // Starts serving on its own thread (binds first if bind() was not called).
  void start();
  void stop();
  std::uint16_t port() const { return port_; }

 private:
  net::Endpoint address_;
  Handlers handlers_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::uint16_t port_ = 0;
  bool bound_ = false;
};

}  // namespace relayguard
