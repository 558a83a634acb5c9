// admin_server: /metrics and /healthz over cpp-httplib (see admin_server.hpp).
#include "core/server/admin_server.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <httplib.h>

#include "core/metrics/registry.hpp"
#include "core/util/log_event.hpp"

namespace relayguard {
namespace {

constexpr const char* kText = "text/plain; charset=utf-8";

void methodNotAllowed(const httplib::Request&, httplib::Response& res) {
  res.status = 405;
  res.set_header("Allow", "GET, HEAD");
  res.set_content("method not allowed\n", kText);
}

}  // namespace

AdminServer::AdminServer(net::Endpoint address, Handlers handlers)
    : address_(std::move(address)),
      handlers_(std::move(handlers)),
      server_(std::make_unique<httplib::Server>()) {}

AdminServer::~AdminServer() {
  stop();
}

void AdminServer::bind() {
  httplib::Server& s = *server_;
  // Two workers are plenty for scrapes and health checks; the library's default is one per core.
  s.new_task_queue = [] { return new httplib::ThreadPool(2); };
  s.set_read_timeout(5, 0);
  s.set_write_timeout(5, 0);
  s.set_keep_alive_timeout(5);
  s.set_payload_max_length(1024);
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(handlers_.metrics(), metrics::Registry::kContentType);
  });
  s.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    const HealthReport report = handlers_.health();
    res.status = report.ok() ? 200 : 503;
    res.set_content(report.text(), kText);
  });
  for (const char* path : {"/metrics", "/healthz"}) {
    s.Post(path, methodNotAllowed);
    s.Put(path, methodNotAllowed);
    s.Patch(path, methodNotAllowed);
    s.Delete(path, methodNotAllowed);
    s.Options(path, methodNotAllowed);
  }
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.status == 404) {
      res.set_content("not found: try /metrics or /healthz\n", kText);
    }
  });
  s.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log::error("admin_request_failed", {{"path", req.path}, {"error", ex.what()}});
        }
        res.status = 500;
        res.set_content("internal error\n", kText);
      });
  errno = 0;
  if (!s.bind_to_port(address_.host, address_.port)) {
    const int error = errno;
    throw std::runtime_error("cannot listen on " + address_.toString() +
                             " ([admin]): " + (error != 0 ? std::strerror(error) : "bind failed"));
  }
  port_ = address_.port;
  bound_ = true;
}

void AdminServer::start() {
  if (!bound_) {
    bind();
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  log::info("admin_listening", {{"address", address_.toString()}});
}

void AdminServer::stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

}  // namespace relayguard
