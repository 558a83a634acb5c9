// service_notify: tells systemd (Type=notify) where `relayguard serve` is in its life, through
// libsystemd's sd_notify: READY=1 once everything is bound and loaded and the listeners accept,
// RELOADING=1 ... READY=1 around a SIGHUP reload, STOPPING=1 when a stop signal arrives. Without
// NOTIFY_SOCKET in the environment (not started by systemd) every call does nothing.
#pragma once

#include <string_view>

namespace relayguard::service {

void notifyReady(std::string_view status);
void notifyReloading();
void notifyStopping();

}  // namespace relayguard::service
