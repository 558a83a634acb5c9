// unbound_resolver: libunbound behind the Resolver interface (see unbound_resolver.hpp).
//
// Every outstanding query is a Pending entry owned by Impl::pending (strand only). It ends in
// exactly one of two ways: unbound's callback (run by ub_process on the strand), or a timeout
// that cancels it with ub_cancel. When ub_cancel is too late (the answer is already in unbound's
// pipe) the entry stays, marked finished, until the callback arrives and discards the answer.
#include "dns/unbound_resolver.hpp"

#include <future>
#include <map>
#include <optional>
#include <stdexcept>

#include <arpa/inet.h>
#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <unbound.h>

namespace relayguard::dns {
namespace {

Answer tempFail(std::string why) {
  Answer a;
  a.status = Status::kTempFail;
  a.error = std::move(why);
  return a;
}

// A domain name in uncompressed wire form (unbound hands rdata over uncompressed) as text,
// escaped like a zone file; "." for the root.
std::optional<std::string> wireName(const unsigned char* p, std::size_t n) {
  std::string out;
  std::size_t i = 0;
  while (i < n) {
    const std::size_t len = p[i++];
    if (len == 0) {
      return out.empty() ? std::string(".") : out;
    }
    if (len > 63 || i + len > n) {
      return std::nullopt;
    }
    if (!out.empty()) {
      out += '.';
    }
    for (std::size_t k = 0; k < len; ++k) {
      const unsigned char c = p[i + k];
      if (c == '.' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c <= 0x20 || c >= 0x7f) {
        char buf[5];
        std::snprintf(buf, sizeof buf, "\\%03u", static_cast<unsigned>(c));
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
    i += len;
  }
  return std::nullopt;
}

std::optional<std::string> decodeRdata(RrType type, const unsigned char* p, std::size_t n) {
  char buf[INET6_ADDRSTRLEN];
  switch (type) {
    case RrType::kA:
      if (n != 4 || ::inet_ntop(AF_INET, p, buf, sizeof buf) == nullptr) {
        return std::nullopt;
      }
      return std::string(buf);
    case RrType::kAaaa:
      if (n != 16 || ::inet_ntop(AF_INET6, p, buf, sizeof buf) == nullptr) {
        return std::nullopt;
      }
      return std::string(buf);
    case RrType::kMx: {
      if (n < 3) {
        return std::nullopt;
      }
      const unsigned preference = (static_cast<unsigned>(p[0]) << 8) | p[1];
      auto host = wireName(p + 2, n - 2);
      if (!host) {
        return std::nullopt;
      }
      return std::to_string(preference) + " " + *host;
    }
    case RrType::kTxt: {
      std::string out;
      std::size_t i = 0;
      while (i < n) {
        const std::size_t len = p[i++];
        if (i + len > n) {
          return std::nullopt;
        }
        out.append(reinterpret_cast<const char*>(p + i), len);
        i += len;
      }
      return out;
    }
    case RrType::kPtr:
    case RrType::kCname:
      return wireName(p, n);
  }
  return std::nullopt;
}

Answer decode(RrType type, int err, ub_result* r) {
  if (err != 0) {
    return tempFail(std::string("resolver error: ") + ub_strerror(err));
  }
  if (r == nullptr) {
    return tempFail("resolver returned no result");
  }
  if (r->bogus) {
    return tempFail(std::string("DNSSEC validation failed: ") +
                    (r->why_bogus != nullptr ? r->why_bogus : "bogus"));
  }
  Answer a;
  a.ttl = r->ttl > 0 ? static_cast<std::uint32_t>(r->ttl) : 0;
  if (r->rcode == 3) {
    a.status = Status::kNxDomain;
    return a;
  }
  if (r->rcode != 0) {
    static const char* const kNames[] = {"NOERROR",  "FORMERR", "SERVFAIL",
                                         "NXDOMAIN", "NOTIMP",  "REFUSED"};
    return tempFail(std::string("server answered ") + (r->rcode >= 0 && r->rcode <= 5
                                                           ? kNames[r->rcode]
                                                           : "rcode " + std::to_string(r->rcode)));
  }
  a.status = Status::kNoData;
  if (r->havedata) {
    for (int i = 0; r->data[i] != nullptr; ++i) {
      auto text = decodeRdata(type, reinterpret_cast<const unsigned char*>(r->data[i]),
                              static_cast<std::size_t>(r->len[i]));
      if (text) {
        a.records.push_back(std::move(*text));
      }
    }
    if (a.records.empty()) {
      // Data we cannot read is a broken answer, never "no such record".
      return tempFail("undecodable " + std::string(toString(type)) + " answer");
    }
    a.status = Status::kOk;
  }
  return a;
}

void check(int rc, const std::string& what) {
  if (rc != 0) {
    throw std::runtime_error("DNS resolver: " + what + ": " + ub_strerror(rc));
  }
}

// The completion of one attempt: the awaiting coroutine's handler, resumed on its own executor.
struct Completion {
  virtual ~Completion() = default;
  virtual void complete(Answer answer) = 0;
};

template <class Handler>
struct HandlerCompletion : Completion {
  explicit HandlerCompletion(Handler h) : handler(std::move(h)) {}
  void complete(Answer answer) override {
    auto executor = asio::get_associated_executor(handler);
    asio::post(executor, [h = std::move(handler), a = std::move(answer)]() mutable {
      std::move(h)(std::move(a));
    });
  }
  Handler handler;
};

}  // namespace

struct UnboundResolver::Impl : std::enable_shared_from_this<Impl> {
  using Strand = asio::strand<asio::any_io_executor>;

  struct Pending {
    Pending(Impl* owner, std::uint64_t s, const Strand& strand, RrType t)
        : impl(owner), serial(s), type(t), timer(strand) {}
    Impl* impl;
    std::uint64_t serial;
    RrType type;
    int async_id = 0;
    bool finished = false;
    asio::steady_timer timer;
    std::unique_ptr<Completion> completion;
  };

  Impl(asio::any_io_executor executor, ResolverOptions o)
      : options(std::move(o)), strand(asio::make_strand(executor)), fd(strand) {
    ctx = ub_ctx_create();
    if (ctx == nullptr) {
      throw std::runtime_error("DNS resolver: cannot create a libunbound context");
    }
    try {
      check(ub_ctx_async(ctx, 1), "threaded mode");
      // Forwarders on loopback (a local cache, a test server) are normal for a relay.
      check(ub_ctx_set_option(ctx, "do-not-query-localhost:", "no"), "do-not-query-localhost");
      // A server that once timed out (on one slow name) must not be written off for the other
      // names: keep probing it rather than failing every query for infra-host-ttl.
      check(ub_ctx_set_option(ctx, "infra-keep-probing:", "yes"), "infra-keep-probing");
      if (options.servers.empty()) {
        // Without a readable resolv.conf unbound resolves from the root servers itself.
        ub_ctx_resolvconf(ctx, nullptr);
        ub_ctx_hosts(ctx, nullptr);  // best effort: a missing /etc/hosts is not an error
      } else {
        for (const auto& s : options.servers) {
          const std::string fwd = s.ip + "@" + std::to_string(s.port);
          check(ub_ctx_set_fwd(ctx, fwd.c_str()), "forwarder " + fwd);
        }
        // unbound answers RFC 6761 names itself (NXDOMAIN); the configured servers own them.
        check(ub_ctx_set_option(ctx, "local-zone:", "test. transparent"), "local-zone test.");
        // Likewise the reverse zones of the documentation ranges (RFC 5737, RFC 3849), which
        // test zones use for egress addresses (`relayguard doctor`'s PTR check).
        for (const char* zone : {"2.0.192.in-addr.arpa.", "100.51.198.in-addr.arpa.",
                                 "113.0.203.in-addr.arpa.", "8.b.d.0.1.0.0.2.ip6.arpa."}) {
          check(ub_ctx_set_option(ctx, "local-zone:", (std::string(zone) + " transparent").c_str()),
                std::string("local-zone ") + zone);
        }
      }
      fd.assign(ub_fd(ctx));
    } catch (...) {
      ub_ctx_delete(ctx);
      throw;
    }
  }

  ~Impl() {
    std::error_code ec;
    fd.release();  // the descriptor belongs to unbound
    ub_ctx_delete(ctx);
    (void)ec;
  }

  // Strand only.
  void start(const std::string& name, RrType type, std::unique_ptr<Completion> completion) {
    const std::uint64_t serial = ++next_serial;
    auto owned = std::make_unique<Pending>(this, serial, strand, type);
    Pending* p = owned.get();
    p->completion = std::move(completion);
    pending.emplace(serial, std::move(owned));
    const int rc = ub_resolve_async(ctx, name.c_str(), static_cast<int>(type), 1, p,
                                    &Impl::onResult, &p->async_id);
    if (rc != 0) {
      auto c = std::move(p->completion);
      pending.erase(serial);
      c->complete(tempFail(std::string("resolver error: ") + ub_strerror(rc)));
      return;
    }
    p->timer.expires_after(options.timeout);
    p->timer.async_wait([self = shared_from_this(), serial](const std::error_code& ec) {
      if (!ec) {
        self->onTimeout(serial);
      }
    });
    arm();
  }

  static void onResult(void* data, int err, ub_result* result) {
    auto* p = static_cast<Pending*>(data);
    Impl* self = p->impl;
    Answer answer = decode(p->type, err, result);
    if (result != nullptr) {
      ub_resolve_free(result);
    }
    if (!p->finished) {
      p->finished = true;
      p->timer.cancel();
      p->completion->complete(std::move(answer));
    }
    self->pending.erase(p->serial);
  }

  void onTimeout(std::uint64_t serial) {
    const auto it = pending.find(serial);
    if (it == pending.end() || it->second->finished) {
      return;
    }
    Pending& p = *it->second;
    p.finished = true;
    p.completion->complete(
        tempFail("no answer within " + std::to_string(options.timeout.count()) + " ms"));
    if (ub_cancel(ctx, p.async_id) == 0) {
      pending.erase(it);
    }
  }

  // Watches unbound's descriptor while anything is outstanding (strand only).
  void arm() {
    if (armed || pending.empty()) {
      return;
    }
    armed = true;
    fd.async_wait(
        asio::posix::stream_descriptor::wait_read,
        asio::bind_executor(strand, [self = shared_from_this()](const std::error_code& ec) {
          self->armed = false;
          if (ec) {
            return;
          }
          ub_process(self->ctx);
          self->arm();
        }));
  }

  template <class Token>
  static auto asyncAttempt(std::shared_ptr<Impl> impl, std::string name, RrType type,
                           Token&& token) {
    return asio::async_initiate<Token, void(Answer)>(
        [impl, name = std::move(name), type](auto handler) mutable {
          auto completion =
              std::make_unique<HandlerCompletion<decltype(handler)>>(std::move(handler));
          asio::post(impl->strand, [impl, name = std::move(name), type,
                                    completion = std::move(completion)]() mutable {
            impl->start(name, type, std::move(completion));
          });
        },
        token);
  }

  static asio::awaitable<Answer> runQuery(std::shared_ptr<Impl> impl, std::string name,
                                          RrType type) {
    Answer answer;
    const unsigned attempts = std::max(1U, impl->options.attempts);
    for (unsigned i = 0; i < attempts; ++i) {
      answer = co_await asyncAttempt(impl, name, type, asio::use_awaitable);
      if (answer.status != Status::kTempFail) {
        break;
      }
    }
    if (answer.status == Status::kTempFail) {
      answer.error =
          "DNS " + std::string(toString(type)) + " lookup of " + name + " failed: " + answer.error;
    }
    co_return answer;
  }

  ResolverOptions options;
  Strand strand;
  asio::posix::stream_descriptor fd;
  ub_ctx* ctx = nullptr;
  bool armed = false;
  std::uint64_t next_serial = 0;
  std::map<std::uint64_t, std::unique_ptr<Pending>> pending;
};

UnboundResolver::UnboundResolver(asio::any_io_executor executor, ResolverOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options))) {}

UnboundResolver::~UnboundResolver() = default;

asio::awaitable<Answer> UnboundResolver::query(const std::string& name, RrType type) {
  return Impl::runQuery(impl_, name, type);
}

Answer UnboundResolver::queryBlocking(const std::string& name, RrType type) {
  auto promise = std::make_shared<std::promise<Answer>>();
  auto future = promise->get_future();
  asio::co_spawn(impl_->strand, Impl::runQuery(impl_, name, type),
                 [promise](std::exception_ptr e, Answer a) {
                   if (e) {
                     promise->set_exception(e);
                   } else {
                     promise->set_value(std::move(a));
                   }
                 });
  // Every attempt ends by its own timeout; the margin only guards against a stopped event loop.
  const auto bound = impl_->options.timeout * (std::max(1U, impl_->options.attempts) + 1) +
                     std::chrono::seconds(1);
  if (future.wait_for(bound) != std::future_status::ready) {
    return tempFail("DNS " + std::string(toString(type)) + " lookup of " + name +
                    " failed: the resolver is not running");
  }
  return future.get();
}

}  // namespace relayguard::dns
