#include "actors/frame_guard.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <algorithm>
#include <caf/actor_system.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/io/network/native_socket.hpp>
#include <map>

#include "actors/metrics_exporter.hpp"
#include "actors/peer_guard.hpp"
#include "actors/preauth_payload.hpp"

namespace troupe {

namespace {

using steady = std::chrono::steady_clock;

// Messages a peer may send before it authenticates, handshakes aside: a
// hello and an auth (and the odd retry) are what a real one needs.
constexpr std::size_t max_preauth_frames = 64;

std::string peer_of(int fd) {
  auto addr = caf::io::network::remote_addr_of_fd(fd);
  auto port = caf::io::network::remote_port_of_fd(fd);
  if (!addr || !port) return "an unknown peer";
  return *addr + ":" + std::to_string(*port);
}

}  // namespace

frame_guard::frame_guard(frame_guard_options opts)
    : opts_(std::move(opts)), throttle_(opts_.name + ": connections refused") {}

bool frame_guard::admit(int fd, const std::string& peer) {
  const auto address = peer.substr(0, peer.rfind(':'));
  std::string why;
  std::string evicted;
  {
    std::lock_guard lock(mutex_);
    const auto now = steady::now();
    // Waiting connections per address (those closing already left out).
    std::map<std::string, std::size_t> per;
    std::size_t all = 0, most = 0;
    for (const auto& [other, w] : pending_) {
      if (w.swept) continue;
      ++all;
      most = std::max(most, ++per[w.address]);
    }
    const std::size_t same = per[address];
    // Full: the oldest waiting connection (of this address, or of all) makes
    // room, once it has waited a while: refusing the newcomer instead let
    // 16 idle sockets, reopened every 10 s, lock every job and `troupe
    // status` out of a node for good. A real peer authenticates within
    // milliseconds, so the oldest is the idle one.
    const bool per_address = same >= opts_.max_pending_per_address;
    if (per_address || all >= opts_.max_pending) {
      // The oldest waiting connection that `take` allows, if it has waited
      // at least `min_age`.
      auto oldest_of = [&](auto take, std::chrono::milliseconds min_age) {
        auto oldest = pending_.end();
        for (auto it = pending_.begin(); it != pending_.end(); ++it) {
          if (it->second.swept || !take(it->second)) continue;
          if (oldest == pending_.end() || it->second.since < oldest->second.since) oldest = it;
        }
        return oldest != pending_.end() && now - oldest->second.since >= min_age ? oldest
                                                                                 : pending_.end();
      };
      std::string whose;  // what the closed connection was the oldest of
      auto victim = pending_.end();
      // Full in all, with some address holding at least two more of the
      // waiting connections than this one: its oldest goes once it has
      // waited a hundredth of the deadline (100 ms by default: far longer
      // than a real peer's handshake, so a peer with two handshakes under
      // way among a flood of single connections keeps them). A flood from a
      // few addresses, reopened faster than a tenth of the deadline,
      // otherwise kept every other address out.
      if (!per_address && most > same + 1) {
        victim = oldest_of([&](const waiting& w) { return per[w.address] == most; },
                           opts_.auth_deadline / 100);
        if (victim != pending_.end()) {
          whose = "the oldest from " + victim->second.address + ", which holds " +
                  std::to_string(most) + " of the " + std::to_string(all) +
                  " waiting (no address more)";
        }
      }
      if (victim == pending_.end()) {
        victim = oldest_of([&](const waiting& w) { return !per_address || w.address == address; },
                           opts_.auth_deadline / 10);
        whose = per_address
                    ? "the oldest of " + std::to_string(same) + " from " + address + " waiting"
                    : "the oldest of " + std::to_string(all) + " waiting";
      }
      if (victim == pending_.end()) {
        why = per_address ? std::to_string(same) + " connections from " + address +
                                " already wait to authenticate"
                          : std::to_string(all) + " connections already wait to authenticate";
      } else {
        // As sweep() does: CAF's I/O thread then reads it as closed.
        ::shutdown(victim->first, SHUT_RDWR);
        victim->second.swept = true;
        evicted = victim->second.peer;
        why = "waited " +
              std::to_string(
                  std::chrono::duration_cast<std::chrono::milliseconds>(now - victim->second.since)
                      .count()) +
              " ms without authenticating, " + whose + ": closed to make room for a new connection";
      }
    }
    if (why.empty() || !evicted.empty()) pending_[fd] = {now, peer, address, false};
  }
  if (!evicted.empty()) {
    refuse(evicted, why);
    return true;
  }
  if (why.empty()) return true;
  refuse(peer, why);
  return false;
}

void frame_guard::authenticated(int fd) {
  std::lock_guard lock(mutex_);
  pending_.erase(fd);
}

bool frame_guard::forget(int fd) {
  std::lock_guard lock(mutex_);
  auto it = pending_.find(fd);
  if (it == pending_.end()) return false;
  const bool was_swept = it->second.swept;
  pending_.erase(it);
  return was_swept;
}

bool frame_guard::swept(int fd) const {
  std::lock_guard lock(mutex_);
  auto it = pending_.find(fd);
  return it != pending_.end() && it->second.swept;
}

void frame_guard::refuse(const std::string& peer, const std::string& why) {
  ++refused_;
  if (opts_.refused_total) ++*opts_.refused_total;
  if (opts_.metrics) opts_.metrics->add_rejected();
  // A flood of hostile connections must not flood the log as well.
  std::lock_guard lock(log_mutex_);
  if (throttle_.admit()) {
    spdlog::warn("{}: refused the connection from {}: {}", opts_.name, peer, why);
  }
}

std::size_t frame_guard::sweep() {
  std::vector<std::string> late;
  {
    std::lock_guard lock(mutex_);
    const auto now = steady::now();
    for (auto& [fd, w] : pending_) {
      if (w.swept || now - w.since < opts_.auth_deadline) continue;
      // The socket reads as closed on CAF's I/O thread, which then drops it.
      // Under the lock: forget() runs before CAF closes the descriptor, so it
      // cannot have been reused.
      ::shutdown(fd, SHUT_RDWR);
      w.swept = true;
      late.push_back(w.peer);
    }
  }
  for (const auto& peer : late) {
    refuse(peer, "no authentication within " + std::to_string(opts_.auth_deadline.count()) +
                     " ms of connecting");
  }
  {
    std::lock_guard lock(log_mutex_);
    throttle_.flush();  // the end of a burst of refusals is told too
  }
  return late.size();
}

bool frame_guard::allows(const caf::node_id& peer) const {
  return opts_.peers && opts_.peers->allows(peer);
}

std::size_t frame_guard::pending() const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& [fd, w] : pending_) n += w.swept ? 0 : 1;
  return n;
}

connection_screen::connection_screen(std::shared_ptr<frame_guard> guard, caf::actor_system& sys,
                                     int fd)
    : guard_(std::move(guard)),
      sys_(sys),
      fd_(fd),
      peer_(peer_of(fd)),
      screen_(guard_->options().limits,
              [this](const basp_header& h, const std::vector<std::uint8_t>& payload) {
                // The handshake may have come in the same read, not yet taken.
                if (!node_) read_handshake();
                return check_payload(h, payload);
              }) {
  admitted_ = guard_->admit(fd_, peer_);
}

status connection_screen::check_payload(const basp_header& h,
                                        const std::vector<std::uint8_t>& payload) {
  const caf::node_id* peer = node_ ? &*node_ : nullptr;
  if (h.operation == basp_op::client_handshake) {
    // Repeats are screened in any state (frame_screen): the same node, and
    // no taking over the route of another connection to it, which would
    // send what this process has for that node to whoever opened this one.
    if (auto st = check_preauth_payload(sys_, h, payload, peer); !st) return st;
    const auto& route_of = guard_->options().route_of;
    if ((h.flags & basp_flag::select_connection) != 0 && route_of && peer != nullptr) {
      if (const auto route = route_of(*peer); route && *route != fd_) {
        return {errc::malformed_message,
                "a handshake selecting this connection as the route to node " +
                    caf::to_string(*peer) + ", which another connection serves"};
      }
    }
    return {};
  }
  if (authenticated_) return {};
  // A real peer authenticates in a few messages (hello, auth). One that
  // sent requests nonstop without reading the refusals made the node hold
  // every unsent answer: 16 connections took a node from 22 MB to 458 MB
  // before the deadline closed them.
  if (++preauth_frames_ > max_preauth_frames) {
    return {errc::malformed_message,
            "more than " + std::to_string(max_preauth_frames) + " messages before authenticating"};
  }
  return check_preauth_payload(sys_, h, payload, peer);
}

connection_screen::~connection_screen() {
  if (!admitted_) return;
  // Gone from the registry first, so that the sweeper cannot count it too.
  const bool swept = guard_->forget(fd_);
  // CAF itself dropped it (its handshake timeout) in the middle of a frame
  // before it authenticated: a frame announced and never finished went
  // unlogged and uncounted, as no read failed.
  if (!refused_ && !authenticated_ && !swept && screen_.mid_frame()) {
    guard_->refuse(peer_, "dropped in the middle of a frame after " +
                              std::to_string(screen_.bytes()) + " bytes, before authenticating");
  }
}

bool connection_screen::peer_authenticated() {
  if (!node_) return false;
  const bool ok = guard_->allows(*node_);
  if (ok && !authenticated_) {
    authenticated_ = true;
    guard_->authenticated(fd_);
  }
  return ok;
}

bool connection_screen::screen(const void* data, std::size_t size) {
  if (refused_) return false;
  auto st = screen_.feed(static_cast<const std::uint8_t*>(data), size, peer_authenticated());
  if (st && !node_) {
    if (auto why = read_handshake()) st = status{errc::malformed_message, *why};
  }
  if (st) return true;
  refused_ = true;
  guard_->refuse(peer_, st.message());
  return false;
}

bool connection_screen::check_frame(const void* data, std::size_t size) {
  if (refused_) return false;
  const auto h = screen_.take_unchecked_payload();
  if (!h) return true;  // a header, or a payload checked as it came
  status st;
  if (h->payload_len != size) {
    // CAF reads a payload whole into one buffer (receive_policy::exactly);
    // anything else means this check would not see what BASP reads.
    st = {errc::malformed_message, "a payload of " + std::to_string(size) +
                                       " bytes where its header said " +
                                       std::to_string(h->payload_len)};
  } else {
    st = check_authenticated_payload(sys_, *h, static_cast<const std::uint8_t*>(data), size);
  }
  if (st) return true;
  refused_ = true;
  const auto who = node_ ? " (node " + caf::to_string(*node_) + ")" : std::string{};
  guard_->refuse(peer_ + who, st.message());
  return false;
}

// The node id the peer claims in its handshake: what the peer guard knows
// it by.
std::optional<std::string> connection_screen::read_handshake() {
  const auto* hs = screen_.handshake();
  if (hs == nullptr) return std::nullopt;  // not yet
  caf::binary_deserializer source{sys_, reinterpret_cast<const char*>(hs->data()), hs->size()};
  caf::node_id id;
  try {  // CAF 0.17 throws from some readers (preauth_payload.cpp)
    if (auto err = source(id); err || !id) return "client handshake without a valid node id";
  } catch (const std::exception& e) {
    return std::string("client handshake CAF cannot read (") + e.what() + ")";
  }
  // CAF tells every client this node's id; claiming it would pass as one
  // of this process's own actors.
  if (id == sys_.node()) return "client handshake naming this node's own id";
  node_ = std::move(id);
  peer_authenticated();  // e.g. under TLS, every certified peer is
  return std::nullopt;
}

void connection_screen::transport_failed(const std::string& reason) {
  if (refused_ || authenticated_ || !admitted_ || guard_->swept(fd_)) return;
  if (!reason.empty()) {
    refused_ = true;
    guard_->refuse(peer_, reason);
  } else if (screen_.mid_frame()) {
    refused_ = true;
    guard_->refuse(peer_, "closed in the middle of a frame after " +
                              std::to_string(screen_.bytes()) + " bytes, before authenticating");
  }
}

}  // namespace troupe
