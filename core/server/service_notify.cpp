// service_notify: sd_notify messages for systemd (see service_notify.hpp).
#include "core/server/service_notify.hpp"

#include <cstring>
#include <string>

#include <systemd/sd-daemon.h>

#include "core/util/log_event.hpp"

namespace relayguard::service {
namespace {

void notify(const std::string& state) {
  const int rc = ::sd_notify(0, state.c_str());
  if (rc < 0) {
    log::warn("sd_notify_failed", {{"error", std::strerror(-rc)}});
  }
}

}  // namespace

void notifyReady(std::string_view status) {
  notify("READY=1\nSTATUS=" + std::string(status));
}

void notifyReloading() {
  notify("RELOADING=1\nSTATUS=reloading");
}

void notifyStopping() {
  notify("STOPPING=1\nSTATUS=stopping");
}

}  // namespace relayguard::service
