#include "actors/table_directory.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <algorithm>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <unordered_set>

#include "actors/actor_config.hpp"
#include "actors/cluster_types.hpp"
#include "actors/log_throttle.hpp"
#include "actors/peer_address.hpp"
#include "actors/peer_guard.hpp"
#include "engine/errors.hpp"

namespace troupe {

namespace {

// One clock group of clients' own training loops (SSP, like the workers of
// a training job, include/troupe/client.hpp).
struct clock_group {
  std::uint32_t members = 0;
  std::int64_t staleness = 0;  // -1: unbounded
  std::vector<std::int64_t> clocks;
  std::vector<bool> gone;              // left, or its client ended
  std::vector<caf::actor_addr> owner;  // the session that holds the member index
  struct waiter {
    std::uint32_t member;  // who waits
    std::int64_t need;     // the slowest member must reach this
    caf::typed_response_promise<std::int64_t> promise;
  };
  std::vector<waiter> waiting;
  std::vector<std::uint32_t> waiting_of;  // calls waiting, per member (bounded)
  std::uint64_t touched = 0;              // the directory's call count at its last call

  // The slowest member still in the group; a group everyone left waits for none.
  std::int64_t min_clock() const {
    std::int64_t m = std::numeric_limits<std::int64_t>::max();
    for (std::uint32_t i = 0; i < members; ++i) {
      if (!gone[i]) m = std::min(m, clocks[i]);
    }
    return m;
  }
  void release() {
    const auto m = min_clock();
    auto keep =
        std::partition(waiting.begin(), waiting.end(), [&](const waiter& w) { return w.need > m; });
    for (auto it = keep; it != waiting.end(); ++it) {
      it->promise.deliver(m);
      --waiting_of[it->member];
    }
    waiting.erase(keep, waiting.end());
  }
  // Every member left or ended: nothing can use the group again. (Neither
  // test looks at `waiting`: a waiter is a member that came and has not
  // left, since leaving answers its call.)
  bool finished() const {
    return std::all_of(gone.begin(), gone.end(), [](bool g) { return g; });
  }
  // No member is in it now: each left, ended or never came (a member that
  // came has a clock of at least 1). One that comes later finds those who
  // left gone and goes on, so an idle group is kept while there is room;
  // once it is closed to make room, a late member gets an error instead.
  bool idle() const {
    for (std::uint32_t m = 0; m < members; ++m) {
      if (!gone[m] && clocks[m] > 0) return false;
    }
    return true;
  }
};

// Member slots of all clock groups together: each costs a clock, a flag and
// an owner, and a group may have 65,536 members, so clients that keep
// opening groups would otherwise grow the service without bound. A group
// also costs group_slots for its name and bookkeeping.
constexpr std::size_t max_member_slots = std::size_t{1} << 20;
constexpr std::size_t group_slots = 32;
// Closed groups remembered, so that a member calling a group that is gone
// gets an error rather than a new group that waits for members who left.
constexpr std::size_t max_closed_names = std::size_t{1} << 16;
// Clock calls waiting for the slowest member: per member (a client may
// pipeline a few) and, beyond each member's first, in all, so that
// repeated calls cannot grow it.
constexpr std::uint32_t max_waiting_per_member = 64;
constexpr std::size_t max_waiting_calls = std::size_t{1} << 16;

std::size_t slots_of(std::uint32_t members) {
  return members + group_slots;
}

struct directory_state {
  directory_info info;
  node_actor node;
  std::shared_ptr<const peer_guard> guard;
  std::uint32_t next_client = 1;
  std::map<std::string, clock_group> groups;     // closed when finished
  log_throttle refusals{"directory: refusals"};  // peers without the secret may flood
  std::size_t member_slots = 0;                  // of all groups
  std::uint64_t calls = 0;                       // clock calls so far
  // Names of closed groups (hashed), oldest first in closed_order.
  std::unordered_set<std::size_t> closed;
  std::deque<std::size_t> closed_order;
  std::set<caf::actor_addr> watched;  // sessions holding a member index
  std::size_t waiting_calls = 0;      // of all groups
  static inline const char* name = "troupe.directory";
};

// Runs `change` on `g` and keeps the count of waiting calls in step.
template <class F>
void counting_waits(directory_state& st, clock_group& g, F change) {
  const auto before = g.waiting.size();
  change();
  st.waiting_calls -= before - g.waiting.size();
}

using directory_pointer = directory_actor::stateful_pointer<directory_state>;

// Frees the group at `it` and remembers its name as closed; the next item.
std::map<std::string, clock_group>::iterator close_group(
    directory_state& st, std::map<std::string, clock_group>::iterator it) {
  const auto h = std::hash<std::string>{}(it->first);
  if (st.closed.insert(h).second) {
    st.closed_order.push_back(h);
    if (st.closed_order.size() > max_closed_names) {
      st.closed.erase(st.closed_order.front());
      st.closed_order.pop_front();
    }
  }
  st.member_slots -= slots_of(it->second.members);
  return st.groups.erase(it);
}

// Makes room for `need` more slots by closing idle groups, longest idle
// first; closes none when that would not make enough room.
bool make_room(directory_state& st, std::size_t need) {
  if (st.member_slots + need <= max_member_slots) return true;
  std::vector<std::pair<std::uint64_t, std::string>> idle;  // (touched, name)
  std::size_t freeable = 0;
  for (const auto& [name, g] : st.groups) {
    if (!g.idle()) continue;
    idle.emplace_back(g.touched, name);
    freeable += slots_of(g.members);
  }
  if (st.member_slots - freeable + need > max_member_slots) return false;
  std::sort(idle.begin(), idle.end());
  std::size_t dropped = 0;
  for (const auto& [touched, name] : idle) {
    if (st.member_slots + need <= max_member_slots) break;
    close_group(st, st.groups.find(name));
    ++dropped;
  }
  spdlog::info("directory: closed {} clock groups with no member in them to make room", dropped);
  return true;
}

// A clock call the group cannot take (clients see bad_argument).
caf::error refuse_clock(const std::string& why) {
  spdlog::warn("directory: refused a clock call: {}", why);
  return make_troupe_error(errc::malformed_message, why);
}

caf::result<std::int64_t> on_clock(directory_pointer self, const std::string& name,
                                   std::uint32_t member, std::uint32_t members,
                                   std::int64_t staleness, std::int64_t clock,
                                   const caf::actor& session) {
  auto& st = self->state;
  if (members == 0 || members > 65536 || member >= members) {
    return refuse_clock("clock group '" + name + "': member " + std::to_string(member) + " of " +
                        std::to_string(members) + " members");
  }
  if (staleness < -1 || clock < 1 || name.empty() || name.size() > 256) {
    return refuse_clock("clock group '" + name + "': bad staleness, clock or name");
  }
  auto it = st.groups.find(name);
  const bool fresh = it == st.groups.end();
  if (fresh && st.closed.count(std::hash<std::string>{}(name)) > 0) {
    return refuse_clock("clock group '" + name +
                        "' is closed: its members left or ended, or none was in it when "
                        "the directory needed room (start a new group under another name)");
  }
  if (fresh && !make_room(st, slots_of(members))) {
    return refuse_clock("clock group '" + name + "': its " + std::to_string(members) +
                        " members would take the directory's clock groups past " +
                        std::to_string(max_member_slots) + " member slots (" +
                        std::to_string(st.member_slots) +
                        " in use; closing the groups no member is in would not make room)");
  }
  if (fresh) it = st.groups.try_emplace(name).first;
  auto& g = it->second;
  if (fresh) {
    st.member_slots += slots_of(members);
    g.members = members;
    g.staleness = staleness;
    g.clocks.assign(members, 0);
    g.gone.assign(members, false);
    g.owner.assign(members, caf::actor_addr{});
    g.waiting_of.assign(members, 0);
  } else if (g.members != members || g.staleness != staleness) {
    return refuse_clock("clock group '" + name + "' has " + std::to_string(g.members) +
                        " members and staleness " + std::to_string(g.staleness) + ", not " +
                        std::to_string(members) + " and " + std::to_string(staleness));
  }
  const auto who = caf::actor_cast<caf::actor_addr>(session);
  if (g.owner[member] && g.owner[member] != who) {
    return refuse_clock("clock group '" + name + "': member " + std::to_string(member) +
                        " is another client's");
  }
  if (g.gone[member]) {
    return refuse_clock("clock group '" + name + "': member " + std::to_string(member) +
                        " has left");
  }
  g.touched = ++st.calls;
  if (!g.owner[member] && session) {
    g.owner[member] = who;
    if (st.watched.insert(who).second) self->monitor(session);
  }
  // A refused call records nothing (its client sends the same step again),
  // so the limits on waiting calls are checked on the step as it would be.
  const auto before = g.clocks[member];
  g.clocks[member] = std::max(before, clock);
  const auto need =
      g.staleness < 0 ? std::numeric_limits<std::int64_t>::min() : g.clocks[member] - g.staleness;
  if (g.min_clock() < need) {
    // A client may have several calls under way, but not without bound:
    // each is kept until the slowest member catches up.
    if (g.waiting_of[member] >= max_waiting_per_member) {
      g.clocks[member] = before;
      return refuse_clock("clock group '" + name + "': member " + std::to_string(member) +
                          " already has " + std::to_string(max_waiting_per_member) +
                          " calls waiting");
    }
    // A member's first waiting call is always taken (member slots bound
    // those); only further ones count against the directory's limit, so no
    // client's pipelining can lock the other groups out.
    if (g.waiting_of[member] > 0 && st.waiting_calls >= max_waiting_calls) {
      g.clocks[member] = before;
      return refuse_clock("clock group '" + name + "': " + std::to_string(max_waiting_calls) +
                          " clock calls already wait in all groups");
    }
  }
  counting_waits(st, g, [&] { g.release(); });
  if (const auto slowest = g.min_clock(); slowest >= need) return slowest;
  auto promise = self->make_response_promise<std::int64_t>();
  g.waiting.push_back({member, need, promise});
  ++g.waiting_of[member];
  ++st.waiting_calls;
  return promise;
}

// Member `m` of `g` no longer counts: the others stop waiting for it, and
// its own call still waiting (its client left from another thread, or
// ended) is answered, so that no waiter keeps a group nobody is in.
void leave(clock_group& g, std::uint32_t m) {
  g.gone[m] = true;
  auto mine = std::partition(g.waiting.begin(), g.waiting.end(),
                             [&](const clock_group::waiter& w) { return w.member != m; });
  for (auto it = mine; it != g.waiting.end(); ++it) {
    it->promise.deliver(
        make_troupe_error(errc::malformed_message,
                          "member " + std::to_string(m) + " left its clock group while waiting"));
  }
  g.waiting.erase(mine, g.waiting.end());
  g.waiting_of[m] = 0;
  g.release();
}

// Closes the group at `it` when nothing can use it again; the next item.
std::map<std::string, clock_group>::iterator close_if_finished(
    directory_state& st, std::map<std::string, clock_group>::iterator it) {
  if (!it->second.finished()) return std::next(it);
  return close_group(st, it);
}

directory_actor::behavior_type directory_behavior(directory_pointer self, directory_info info,
                                                  node_actor node,
                                                  std::shared_ptr<const peer_guard> guard) {
  self->state.info = std::move(info);
  self->state.node = std::move(node);
  self->state.guard = std::move(guard);
  // CAF's default ends an actor on any error message nobody asked for: a
  // client's stray error must not end the service's directory.
  self->set_error_handler([=](caf::error& err) {
    if (self->state.refusals.admit()) {
      spdlog::warn("directory: ignored an error message nobody asked for: {}", describe(err));
    }
  });
  // CAF's default prints every unexpected message in full, without a limit.
  self->set_default_handler(
      [=](caf::scheduled_actor*, caf::message_view&) -> caf::result<caf::message> {
        if (self->state.refusals.admit()) spdlog::warn("directory: ignored an unexpected message");
        return caf::make_error(caf::sec::unexpected_message);
      });
  // A client that ends (or whose process is lost) leaves its clock groups.
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& st = self->state;
    st.watched.erase(dm.source);
    for (auto it = st.groups.begin(); it != st.groups.end();) {
      auto& g = it->second;
      bool left = false;
      for (std::uint32_t m = 0; m < g.members; ++m) {
        if (g.owner[m] == dm.source && !g.gone[m]) {
          counting_waits(st, g, [&] { leave(g, m); });
          left = true;
        }
      }
      it = left ? close_if_finished(st, it) : std::next(it);
    }
  });
  return {
      // The node keeps the sender (the client's actor) as the original
      // sender: it binds the client's node into the proof and admits it.
      [=](hello_atom h) { return self->delegate(self->state.node, h); },
      [=](auth_atom a, std::string& proof, std::string& nonce) {
        return self->delegate(self->state.node, a, std::move(proof), std::move(nonce));
      },
      [=](directory_atom) -> caf::result<directory_info> {
        const auto& guard = self->state.guard;
        if (guard && !sender_allowed(self, *guard)) {
          if (self->state.refusals.admit()) {
            log_peer(self, self->current_sender(), [](const std::string& who) {
              spdlog::warn("directory: refused an unauthenticated client: {}", who);
            });
          }
          return make_troupe_error(errc::bad_config, "not authenticated (send hello and auth)");
        }
        auto out = self->state.info;
        out.client_id = self->state.next_client++;
        return out;
      },
      [=](clock_atom, const std::string& group, std::uint32_t member, std::uint32_t members,
          std::int64_t staleness, std::int64_t clock,
          const caf::actor& session) -> caf::result<std::int64_t> {
        const auto& guard = self->state.guard;
        if (guard && !sender_allowed(self, *guard)) {
          return make_troupe_error(errc::bad_config, "not authenticated (send hello and auth)");
        }
        return on_clock(self, group, member, members, staleness, clock, session);
      },
      [=](leave_atom, const std::string& group, std::uint32_t member,
          const caf::actor& session) -> caf::result<bool> {
        const auto& guard = self->state.guard;
        if (guard && !sender_allowed(self, *guard)) {
          return make_troupe_error(errc::bad_config, "not authenticated (send hello and auth)");
        }
        auto& st = self->state;
        auto it = st.groups.find(group);
        if (it == st.groups.end() || member >= it->second.members) return false;
        // Only the client holding a member may take it out of the group;
        // one nobody holds yet (it never started) any client may.
        const auto who = caf::actor_cast<caf::actor_addr>(session);
        if (const auto& owner = it->second.owner[member]; owner && owner != who) {
          return make_troupe_error(errc::malformed_message, "clock group '" + group + "': member " +
                                                                std::to_string(member) +
                                                                " is another client's");
        }
        counting_waits(st, it->second, [&] { leave(it->second, member); });
        it->second.touched = ++st.calls;
        close_if_finished(st, it);
        return true;
      },
  };
}

}  // namespace

directory_actor spawn_table_directory(caf::actor_system& sys, directory_info info, node_actor node,
                                      std::shared_ptr<const peer_guard> guard) {
  info.peer_timeout_ms = configured_peer_timeout(sys).count();
  return sys.spawn(directory_behavior, std::move(info), std::move(node), std::move(guard));
}

void register_directory_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<std::vector<table_spec>>("troupe.table_specs");
  cfg.add_message_type<directory_info>("troupe.directory_info");
}

}  // namespace troupe
