#pragma once
// Bounded input before authentication, for everything that listens (node
// daemons, `troupe serve`, a published engine). CAF 0.17's BASP broker trusts
// the payload length of a 32-byte header from anyone who connects and
// allocates it (up to 4 GiB) before any Troupe handshake; it offers no limit
// to configure. So every accepted socket is screened in front of BASP
// (actors/guarded_listener.hpp puts a `connection_screen` into the socket's
// read path) and refused, logged and counted when its peer
//
//   * sends a malformed BASP header, or a first frame that is no client
//     handshake                                      -> refused at once
//   * claims a payload above the limit for its state  -> refused at once,
//     (64 KiB before authentication, ~1 GiB after)       nothing allocated
//   * has not authenticated `auth_deadline` after it  -> closed by sweep()
//     connected (slowloris: partial frames, silence)
//   * sends more than 64 messages before it           -> refused at once
//     authenticates (requests nonstop, the refusals
//     never read, piled up unsent in the node)
//   * closes in the middle of a frame before it ever  -> counted
//     authenticated (a truncated header)
//   * fails the TLS handshake (no or a foreign cert)  -> refused, reason logged
//
// and when `max_pending_per_address` connections from its address (or
// `max_pending` in all) already wait to authenticate, the oldest of them is
// closed to make room, once it has waited a tenth of `auth_deadline` (a real
// peer authenticates in milliseconds; refusing the newcomer let idle
// sockets lock real peers out); a newcomer in a burst faster than that is
// refused. Full in all, an address holding at least two more waiting
// connections than the newcomer's (and no address holds more) gives up its
// oldest once that has waited a hundredth of `auth_deadline` (a flood from
// a few addresses kept every other one out; a real handshake is done long
// before). A flood from more addresses than the cap allows per address,
// each holding about as many, can still fill the table with young
// connections: newcomers are refused while it lasts.
// "Authenticated" means the node id the peer announced in its BASP
// handshake is allowed by the process's peer_guard (it proved
// the secret, was admitted for a job, or TLS vouches for every peer). A
// handshake naming this process's own node id is refused: the guard allows
// it (local actors send under it), CAF hands it out in its own handshake to
// anyone who connects, and no real peer ever sends it. CAF clients repeat
// their handshake with the select-connection flag, which makes the
// connection the route in use to the node it names: a repeat naming another
// node than the first, or selecting a connection while another one is the
// route to that node (`route_of`: one connection taking over another's
// traffic), is refused, before and after authentication. (A second
// connection naming a connected node is normal: CAF makes it an alternative,
// and a client that finds its connection redundant closes it.)
//
//   auto guard = std::make_shared<troupe::frame_guard>(opts);
//   // one connection_screen per accepted socket (on CAF's I/O thread)
//   // every ~250 ms from a thread of the listener:  guard->sweep();

#include <caf/fwd.hpp>
#include <caf/node_id.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "actors/log_throttle.hpp"
#include "engine/errors.hpp"
#include "engine/wire/frame_screen.hpp"

namespace troupe {

class metrics_exporter;
class peer_guard;

struct frame_guard_options {
  std::string name = "listener";              ///< in log lines ("node n1", "engine")
  std::shared_ptr<peer_guard> peers;          ///< who counts as authenticated (required)
  std::shared_ptr<metrics_exporter> metrics;  ///< troupe_messages_rejected_total (may be null)
  /// Counts refused connections for someone else too (a node's status);
  /// may be null.
  std::shared_ptr<std::atomic<std::uint64_t>> refused_total;
  frame_limits limits;
  std::chrono::milliseconds auth_deadline{10000};  ///< connect -> authenticated
  /// Connections waiting to authenticate at once: from one address, and in
  /// all (descriptors are finite; one address cannot take them all).
  std::size_t max_pending_per_address = 16;
  std::size_t max_pending = 256;
  /// The connection (CAF's handle id: its socket) that CAF's routing table
  /// uses for a node, if any. A repeated handshake that would make another
  /// connection the one in use (BASP's select-connection flag) is refused.
  /// Null: not checked.
  std::function<std::optional<std::int64_t>(const caf::node_id&)> route_of;
};

class frame_guard {
 public:
  explicit frame_guard(frame_guard_options opts);

  /// A new connection from `peer` on socket `fd`; false (refused, counted)
  /// when too many connections (from its address, or in all) already wait
  /// to authenticate and none has waited a tenth of the deadline (else the
  /// oldest is shut down, counted, and the newcomer admitted).
  bool admit(int fd, const std::string& peer);
  /// The connection on `fd` authenticated: no deadline any more.
  void authenticated(int fd);
  /// The socket `fd` is about to be closed; whether sweep() had closed it
  /// (and counted it) already.
  bool forget(int fd);
  /// Logs and counts a refused connection.
  void refuse(const std::string& peer, const std::string& why);
  /// Shuts down connections still unauthenticated past the deadline (their
  /// socket then reads as closed and CAF drops it); returns how many.
  std::size_t sweep();
  /// Whether sweep() closed the connection on `fd` (already counted).
  bool swept(int fd) const;

  bool allows(const caf::node_id& peer) const;
  const frame_guard_options& options() const { return opts_; }
  /// Connections refused so far (all reasons).
  std::uint64_t refused() const { return refused_.load(); }
  /// Connections waiting to authenticate now.
  std::size_t pending() const;

 private:
  struct waiting {
    std::chrono::steady_clock::time_point since;
    std::string peer;
    std::string address;  ///< the peer without its port
    bool swept = false;
  };
  frame_guard_options opts_;
  mutable std::mutex mutex_;
  std::map<int, waiting> pending_;
  std::atomic<std::uint64_t> refused_{0};
  std::mutex log_mutex_;  // for throttle_
  log_throttle throttle_;
};

/// The screen of one accepted socket: fed every byte the peer sends before
/// CAF sees it. Lives on the socket's I/O thread only.
class connection_screen {
 public:
  connection_screen(std::shared_ptr<frame_guard> guard, caf::actor_system& sys, int fd);
  ~connection_screen();
  connection_screen(const connection_screen&) = delete;
  connection_screen& operator=(const connection_screen&) = delete;

  /// Whether the guard admitted the connection at all.
  bool admitted() const { return admitted_; }
  /// Screens bytes just read; false: refused (logged, counted), close it.
  bool screen(const void* data, std::size_t size);
  /// The frame that the bytes just screened completed, as CAF is about to
  /// hand it to BASP: a payload that was not checked while it came in (one
  /// from an authenticated peer) is checked here, in place, that CAF can
  /// read it (preauth_payload.hpp). false: refused (logged, counted), close it.
  bool check_frame(const void* data, std::size_t size);
  /// The transport failed (peer closed, reset, TLS error) with `reason`
  /// ("" when the peer simply closed). Counts what looks hostile.
  void transport_failed(const std::string& reason);
  const std::string& peer() const { return peer_; }

 private:
  bool peer_authenticated();
  status check_payload(const basp_header& h, const std::vector<std::uint8_t>& payload);
  /// Takes the node id the handshake names, once it has come; the reason
  /// when it names none, or this process's own.
  std::optional<std::string> read_handshake();

  std::shared_ptr<frame_guard> guard_;
  caf::actor_system& sys_;
  int fd_;
  std::string peer_;
  bool admitted_ = false;
  bool authenticated_ = false;
  bool refused_ = false;
  std::size_t preauth_frames_ = 0;  // frames other than handshakes before authenticating
  frame_screen screen_;
  std::optional<caf::node_id> node_;
};

}  // namespace troupe
