#include "actors/node.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <cmath>
#include <map>
#include <set>

#include "actors/actor_config.hpp"
#include "actors/metrics_exporter.hpp"
#include "actors/peer_guard.hpp"
#include "engine/auth.hpp"

namespace troupe {

namespace {

using clock_type = std::chrono::steady_clock;

struct challenge {
  std::string nonce;
  clock_type::time_point issued;
};

struct hosted_entry {
  hosted_actor info;
  clock_type::time_point since;
};

struct node_state {
  node_options opts;
  std::string address;
  clock_type::time_point started = clock_type::now();
  std::map<caf::node_id, challenge> challenges;                 // pending, one per peer node
  std::map<caf::node_id, std::set<caf::actor_addr>> sessions;  // authenticated actors per node
  std::map<caf::actor_addr, hosted_entry> hosted;
  node_status counters;  // only the counter fields are used
  static inline const char* name = "troupe.node";
};

using node_pointer = node_actor::stateful_pointer<node_state>;

std::string sender_name(node_pointer self) {
  const auto& sender = self->current_sender();
  return sender ? caf::to_string(sender->node()) : std::string{"an anonymous sender"};
}

// Counts, logs and answers a refused request.
caf::error refuse(node_pointer self, const char* what, const std::string& why) {
  ++self->state.counters.requests_rejected;
  if (self->state.opts.metrics) self->state.opts.metrics->add_rejected();
  spdlog::warn("node {}: refused {} from {}: {}", self->state.opts.name, what, sender_name(self),
               why);
  return make_troupe_error(errc::bad_config, why);
}

// An error if the current sender's node has not authenticated.
caf::error require_admitted(node_pointer self, const char* what) {
  if (sender_allowed(self, *self->state.opts.guard)) return {};
  return refuse(self, what, "not authenticated (send hello and auth first)");
}

void prune_challenges(node_state& st) {
  const auto now = clock_type::now();
  for (auto it = st.challenges.begin(); it != st.challenges.end();) {
    it = now - it->second.issued > st.opts.challenge_ttl ? st.challenges.erase(it) : std::next(it);
  }
}

void publish_hosted(node_state& st) {
  if (st.opts.metrics) st.opts.metrics->set_actors_hosted(static_cast<double>(st.hosted.size()));
}

status validate(const shard_request& req) {
  if (req.tables.empty()) return {errc::bad_config, "shard request without tables"};
  for (const auto& t : req.tables) {
    const auto& s = t.spec;
    const std::string which = "table " + std::to_string(s.id) + " ('" + s.name + "')";
    if (s.kind != table_kind::dense) return {errc::bad_config, which + ": shards host dense tables"};
    if (t.range.begin >= t.range.end || t.range.end > s.size) {
      return {errc::out_of_range, which + ": key range [" + std::to_string(t.range.begin) + ", " +
                                      std::to_string(t.range.end) + ") outside [0, " +
                                      std::to_string(s.size) + ")"};
    }
    const auto& o = s.optimizer;
    if (o.kind > optimizer_kind::adam || !std::isfinite(o.learning_rate) ||
        o.learning_rate <= 0) {
      return {errc::bad_config, which + ": invalid optimizer settings"};
    }
  }
  return {};
}

// The one place where a node takes on an actor: slot check, spawn, monitor,
// bookkeeping. `spawn` returns the new actor's handle.
template <class Handle, class Spawn>
caf::result<Handle> host(node_pointer self, const char* kind, std::uint32_t id, Spawn spawn) {
  auto& st = self->state;
  if (st.hosted.size() >= st.opts.slots) {
    return refuse(self, kind, "all " + std::to_string(st.opts.slots) + " slots of node " +
                                  st.opts.name + " are in use");
  }
  Handle handle;
  try {
    handle = spawn();
  } catch (const std::exception& e) {
    return refuse(self, kind, std::string{"cannot spawn: "} + e.what());
  }
  self->monitor(handle);
  hosted_entry entry{{kind, id, sender_name(self), 0}, clock_type::now()};
  st.hosted.emplace(caf::actor_cast<caf::actor_addr>(handle), std::move(entry));
  ++st.counters.actors_spawned;
  publish_hosted(st);
  spdlog::info("node {}: hosting {} {} for {} ({}/{} slots used)", st.opts.name, kind, id,
               sender_name(self), st.hosted.size(), st.opts.slots);
  return handle;
}

caf::result<std::string> on_hello(node_pointer self) {
  auto& st = self->state;
  const auto& sender = self->current_sender();
  if (!sender) return refuse(self, "hello", "anonymous sender");
  prune_challenges(st);
  const auto peer = sender->node();
  if (st.challenges.size() >= st.opts.max_challenges && st.challenges.count(peer) == 0) {
    return refuse(self, "hello", "too many pending handshakes");
  }
  try {
    auto nonce = make_nonce();
    st.challenges[peer] = {nonce, clock_type::now()};
    return nonce;
  } catch (const troupe_error& e) {
    return refuse(self, "hello", e.what());
  }
}

caf::result<std::string> on_auth(node_pointer self, const std::string& proof,
                                 const std::string& peer_nonce) {
  auto& st = self->state;
  const auto& sender = self->current_sender();
  if (!sender) return refuse(self, "auth", "anonymous sender");
  const auto peer = sender->node();
  prune_challenges(st);
  auto it = st.challenges.find(peer);
  if (it == st.challenges.end()) return refuse(self, "auth", "no pending hello (or it expired)");
  const std::string nonce = std::move(it->second.nonce);
  st.challenges.erase(it);  // one try per challenge
  const auto client = caf::to_string(peer);
  const auto server = caf::to_string(self->node());
  if (!verify_proof(st.opts.secret, nonce, auth_context("client", client, server), proof) ||
      peer_nonce.empty() || peer_nonce.size() > 256) {
    ++st.counters.auth_failed;
    if (st.opts.metrics) st.opts.metrics->add_rejected();
    spdlog::warn("node {}: authentication failed for peer {}: wrong proof of the cluster secret",
                 st.opts.name, client);
    return make_troupe_error(errc::bad_config, "authentication failed");
  }
  auto& session = st.sessions[peer];
  if (session.insert(caf::actor_cast<caf::actor_addr>(sender)).second) self->monitor(sender);
  st.opts.guard->allow(peer);
  ++st.counters.auth_ok;
  spdlog::info("node {}: peer {} authenticated", st.opts.name, client);
  return auth_proof(st.opts.secret, peer_nonce, auth_context("node", client, server));
}

node_status make_status(node_pointer self) {
  const auto& st = self->state;
  const auto now = clock_type::now();
  node_status out = st.counters;
  out.name = st.opts.name;
  out.address = st.address;
  out.node_id = caf::to_string(self->node());
  out.slots_total = st.opts.slots;
  out.slots_used = static_cast<std::uint32_t>(st.hosted.size());
  out.uptime_s = std::chrono::duration<double>(now - st.started).count();
  out.peers = st.sessions.size();
  for (const auto& [addr, entry] : st.hosted) {
    out.actors.push_back(entry.info);
    out.actors.back().age_s = std::chrono::duration<double>(now - entry.since).count();
  }
  return out;
}

void on_down(node_pointer self, const caf::down_msg& dm) {
  auto& st = self->state;
  if (auto it = st.hosted.find(dm.source); it != st.hosted.end()) {
    const auto& info = it->second.info;
    spdlog::info("node {}: {} {} ended ({}); slot freed", st.opts.name, info.kind, info.id,
                 describe(dm.reason));
    st.hosted.erase(it);
    ++st.counters.actors_down;
    publish_hosted(st);
    return;
  }
  const auto peer = dm.source.node();
  auto it = st.sessions.find(peer);
  if (it == st.sessions.end() || it->second.erase(dm.source) == 0 || !it->second.empty()) return;
  st.sessions.erase(it);
  st.opts.guard->revoke(peer);
  spdlog::info("node {}: session of peer {} ended ({}); peer revoked", st.opts.name,
               caf::to_string(peer), describe(dm.reason));
}

void on_exit(node_pointer self, const caf::exit_msg& msg) {
  const auto& sender = self->current_sender();
  if (!sender || sender->node() != self->node()) {
    refuse(self, "exit", "only local actors may stop a node");
    return;
  }
  auto& st = self->state;
  spdlog::info("node {}: stopping ({}); {} hosted actors told to exit", st.opts.name,
               describe(msg.reason), st.hosted.size());
  for (const auto& [addr, entry] : st.hosted) self->send_exit(addr, msg.reason);
  self->quit(msg.reason);
}

node_actor::behavior_type node_behavior(node_pointer self, node_options opts) {
  self->state.opts = std::move(opts);
  self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
  self->set_exit_handler([=](caf::exit_msg& msg) { on_exit(self, msg); });
  self->set_default_handler(
      [=](caf::scheduled_actor*, caf::message_view&) -> caf::result<caf::message> {
        return refuse(self, "an unexpected message", "not part of the node protocol");
      });
  return {
      [=](hello_atom) { return on_hello(self); },
      [=](auth_atom, const std::string& proof, const std::string& peer_nonce) {
        return on_auth(self, proof, peer_nonce);
      },
      [=](spawn_atom, shard_request& req) -> caf::result<shard_actor> {
        if (auto err = require_admitted(self, "spawn shard")) return err;
        if (auto st = validate(req); !st) return refuse(self, "spawn shard", st.to_string());
        return host<shard_actor>(self, "shard", req.shard, [&] {
          return spawn_shard(self->system(), req.shard, std::move(req.tables));
        });
      },
      [=](status_atom) -> caf::result<node_status> {
        if (auto err = require_admitted(self, "status")) return err;
        return make_status(self);
      },
      [=](listening_atom, std::string& address) {
        const auto& sender = self->current_sender();
        if (!sender || sender->node() != self->node()) {
          refuse(self, "listening", "local only");
          return;
        }
        self->state.address = std::move(address);
      },
  };
}

}  // namespace

node_actor spawn_node(caf::actor_system& sys, node_options opts) {
  if (!opts.guard) opts.guard = std::make_shared<peer_guard>(sys.node());
  return sys.spawn(node_behavior, std::move(opts));
}

caf::error authenticate(caf::scoped_actor& self, const node_actor& node,
                        const std::string& secret, std::chrono::milliseconds timeout) {
  caf::error result;
  auto on_error = [&](caf::error& err) { result = std::move(err); };
  std::string nonce;
  self->request(node, timeout, hello_atom::value)
      .receive([&](std::string& n) { nonce = std::move(n); }, on_error);
  if (result) return result;
  const auto client = caf::to_string(self->node());
  const auto server = caf::to_string(caf::actor_cast<caf::actor_addr>(node).node());
  try {
    const auto my_nonce = make_nonce();
    const auto proof = auth_proof(secret, nonce, auth_context("client", client, server));
    std::string node_proof;
    self->request(node, timeout, auth_atom::value, proof, my_nonce)
        .receive([&](std::string& p) { node_proof = std::move(p); }, on_error);
    if (result) return result;
    if (!verify_proof(secret, my_nonce, auth_context("node", client, server), node_proof)) {
      return make_troupe_error(errc::bad_config, "authentication failed: node " + server +
                                                     " does not prove the cluster secret");
    }
  } catch (const troupe_error& e) {
    return make_troupe_error(e.code(), e.what());
  }
  return {};
}

}  // namespace troupe
