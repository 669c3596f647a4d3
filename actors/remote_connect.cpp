#include "actors/remote_connect.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <algorithm>
#include <thread>

#include "actors/tls_config.hpp"
#include "engine/tcp_probe.hpp"

namespace troupe {

namespace {

// What a probe that found no peer to hand CAF means to the caller; none
// when it got through.
caf::error probe_failure(const tcp_probe_result& probe) {
  switch (probe.answer) {
    case tcp_answer::accepted:
      return {};
    case tcp_answer::silent:
      return caf::make_error(caf::sec::request_timeout, probe.why);
    case tcp_answer::cancelled:
      return caf::make_error(caf::sec::request_receiver_down, probe.why);
    default:
      return caf::make_error(caf::sec::cannot_connect_to_node, probe.why);
  }
}

}  // namespace

caf::expected<remote_endpoint> connect_endpoint(caf::blocking_actor& self, const std::string& host,
                                                std::uint16_t port,
                                                std::chrono::milliseconds timeout,
                                                const std::atomic<bool>* cancel) {
  using namespace std::chrono;
  const auto start = steady_clock::now();
  const auto probe = probe_tcp(host, port, timeout, cancel);
  if (auto err = probe_failure(probe)) return err;
  // A plain CAF node sends its handshake as it accepts; under TLS the client
  // speaks first.
  const bool plain = !self.system().has_openssl_manager();
  caf::expected<remote_endpoint> out{caf::make_error(caf::sec::cannot_connect_to_node)};
  // CAF 0.17 dates a new outgoing connection's last message from the
  // clock's epoch, so the middleman's next heartbeat tick (every 100 ms by
  // default: configure_cluster_timeouts) drops it as timed out unless the peer's
  // handshake came first: a TLS handshake on a loaded machine, or a link of
  // more than a few ms, loses that race now and then. Asked again until the
  // deadline: each try wins when the handshake beats the tick.
  // A node that closes the connection before its handshake is either
  // refusing newcomers for a while (its table of unauthenticated
  // connections full: a flood of them) or speaking TLS to this plain side:
  // asked again, a little later each time, for a few seconds only (a TLS
  // mismatch is told no later than that).
  const auto drop_deadline = start + std::min(timeout, milliseconds(3000));
  auto pause = milliseconds(25);
  bool dropped = false;
  for (int attempt = 1;; ++attempt) {
    const auto left = timeout - duration_cast<milliseconds>(steady_clock::now() - start);
    if (dropped) {
      // As the first try: a node refusing newcomers sends them nothing.
      const auto again = probe_tcp(probe.address, port, std::max(left, milliseconds(1)), cancel);
      if (auto err = probe_failure(again)) return err;
    } else if (attempt > 1) {
      // Each try leaves a connection in the peer's accept queue: a peer that
      // accepts nothing (a stopped process, whose kernel accepts for it) had
      // it full after a few, and CAF's blocking connect then stalled the
      // middleman, and the client's shutdown behind it, for the kernel's two
      // minutes. So a try is made only once a probe got through, and, in
      // plain mode, once the peer sent its first byte.
      const auto again = probe_tcp(probe.address, port, std::max(left, milliseconds(1)), cancel,
                                   system_resolver(), plain);
      if (auto err = probe_failure(again)) return err;
    }
    // The numeric address that just accepted: CAF neither resolves the name
    // again (blocking its middleman) nor picks another of its addresses.
    // Under TLS nothing changes: CAF 0.17 checks the peer's CA, not its name.
    self.request(connector(self.system()), std::max(left, milliseconds(1)),
                 caf::connect_atom::value, probe.address, port)
        .receive(
            [&](caf::node_id&, caf::strong_actor_ptr& ptr, std::set<std::string>& ifs) {
              if (!ptr) {
                out = caf::make_error(caf::sec::no_actor_published_at_port);
              } else {
                out = remote_endpoint{std::move(ptr), std::move(ifs)};
              }
            },
            [&](caf::error& err) { out = std::move(err); });
    const bool raced = !out && out.error() == caf::sec::connection_timeout;
    dropped = !out && out.error() == caf::sec::disconnect_during_handshake;
    const auto now = steady_clock::now();
    // A try after the pause needs time of its own (else it would end as a
    // timeout, and the closed connection's error and hint be lost).
    const bool time_left =
        now - start < timeout && (!dropped || now + pause + milliseconds(200) < drop_deadline);
    if (!(raced || dropped) || !time_left || (cancel != nullptr && cancel->load())) return out;
    if (attempt == 1 || (attempt & (attempt - 1)) == 0) {
      spdlog::debug("connecting to {}:{}: {} before the handshake (try {}); again", host, port,
                    dropped ? "closed by the node" : "dropped", attempt);
    }
    if (dropped) {
      // In slices, so that a cancel (a node ending) is heard within 50 ms.
      for (auto slept = milliseconds(0); slept < pause; slept += milliseconds(50)) {
        if (cancel != nullptr && cancel->load()) return out;
        std::this_thread::sleep_for(std::min(milliseconds(50), pause - slept));
      }
      pause = std::min(pause * 2, milliseconds(400));
    }
  }
}

bool closed_before_handshake(const caf::error& err) {
  return err == caf::sec::disconnect_during_handshake;
}

bool accepted_but_silent(const caf::error& err) {
  return err == caf::sec::request_timeout &&
         caf::to_string(err).find(accepted_but_silent_why) != std::string::npos;
}

caf::expected<remote_endpoint> connect_endpoint(caf::actor_system& sys, const std::string& host,
                                                std::uint16_t port,
                                                std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys};
  return connect_endpoint(*self.ptr(), host, port, timeout);
}

}  // namespace troupe
