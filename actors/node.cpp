#include "actors/node.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "actors/actor_config.hpp"
#include "actors/metrics_exporter.hpp"
#include "actors/peer_guard.hpp"
#include "actors/shard.hpp"
#include "actors/stage_actor.hpp"
#include "actors/tls_config.hpp"
#include "actors/worker.hpp"
#include "engine/auth.hpp"
#include "engine/job_config.hpp"
#include "engine/node_paths.hpp"
#include "engine/workloads/workload_factory.hpp"

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
  caf::strong_actor_ptr handle;  // the node keeps what it hosts alive until it ends
};

struct node_state {
  node_options opts;
  std::string address;
  clock_type::time_point started = clock_type::now();
  std::map<caf::node_id, challenge> challenges;                // pending, one per peer node
  std::map<caf::node_id, std::set<caf::actor_addr>> sessions;  // authenticated actors per node
  // Shared with the lifeline that stops hosted actors when the node ends.
  std::shared_ptr<std::map<caf::actor_addr, hosted_entry>> hosted_ptr =
      std::make_shared<std::map<caf::actor_addr, hosted_entry>>();
  std::map<caf::actor_addr, hosted_entry>& hosted = *hosted_ptr;
  node_status counters;  // only the counter fields are used
  // Peers admitted by an authenticated peer for its job, revoked with its session.
  std::map<caf::node_id, std::vector<caf::node_id>> admitted;
  // Job data sets loaded for hosted workers, by data-set identity.
  std::map<std::string, std::shared_ptr<const workload_data>> data_cache;
  static inline const char* name = "troupe.node";
};

using node_pointer = node_actor::stateful_pointer<node_state>;

// describe() requires a non-empty error; an actor that ends normally sends none.
std::string reason_text(const caf::error& reason) {
  return reason ? describe(reason) : std::string{"normal exit"};
}

std::string sender_name(node_pointer self) {
  const auto& sender = self->current_sender();
  return sender ? caf::to_string(sender->node()) : std::string{"an anonymous sender"};
}

// Counts, logs and answers a refused request.
caf::error refuse(node_pointer self, const char* what, const std::string& why,
                  errc code = errc::bad_config) {
  ++self->state.counters.requests_rejected;
  if (self->state.opts.metrics) self->state.opts.metrics->add_rejected();
  spdlog::warn("node {}: refused {} from {}: {}", self->state.opts.name, what, sender_name(self),
               why);
  return make_troupe_error(code, why);
}

// An error if the current sender's node has not authenticated.
// A direct BASP connection to another node of a job: CAF 0.17 routes
// messages between two nodes that only know each other through a third
// (the scheduler's process) over that third process, which then copies every
// pull and push twice; with a direct connection the routing table prefers
// it. The other node's daemon is reached like any peer (its guard, its
// handshake); it already admits this node for the job.
void link_to_peer(node_pointer self, const std::string& address) {
  std::string host;
  std::uint16_t port = 0;
  try {
    std::tie(host, port) = parse_address(address);
  } catch (const troupe_error& e) {
    spdlog::warn("node {}: cannot link to '{}': {}", self->state.opts.name, address, e.what());
    return;
  }
  // TLS when this node listens with TLS: the other node accepts nothing else.
  self->request(connector(self->system()), std::chrono::seconds(10), caf::connect_atom::value,
                host, port)
      .then(
          [=](caf::node_id& peer, caf::strong_actor_ptr&, std::set<std::string>&) {
            spdlog::info("node {}: linked to {} ({})", self->state.opts.name, address,
                         caf::to_string(peer));
          },
          [=](caf::error& err) {
            // Traffic then takes the detour: slower, not wrong.
            spdlog::warn("node {}: cannot link to {}: {}; traffic goes through the scheduler",
                         self->state.opts.name, address, describe(err));
          });
}

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

// What hosted actors get from their node: its guard, counters, checkpoint root.
host_context host_of(const node_state& st) {
  return {st.opts.guard, st.opts.metrics, st.opts.checkpoint_dir};
}

// The job as this node sees it: relative data paths under its data_dir.
void localise(const node_state& st, job_config& job) {
  if (!st.opts.data_dir.empty())
    job.data_dir = resolve_under(st.opts.data_dir, resolved_data_dir(job));
}

void publish_hosted(node_state& st) {
  if (st.opts.metrics) st.opts.metrics->set_actors_hosted(static_cast<double>(st.hosted.size()));
}

status validate_table(std::uint32_t shard, const shard_table& t) {
  const auto& s = t.spec;
  const std::string which = "table " + std::to_string(s.id) + " ('" + s.name + "')";
  if (s.kind == table_kind::sparse) {
    if (s.width == 0 || s.width > (1u << 20)) return {errc::bad_config, which + ": bad row width"};
    if (t.shards == 0 || shard >= t.shards) {
      return {errc::out_of_range, which + ": shard " + std::to_string(shard) + " of " +
                                      std::to_string(t.shards) + " owns no rows"};
    }
  } else if (s.kind == table_kind::dense) {
    // Empty ranges are legal: a one-value table over two shards leaves one empty.
    if (t.range.begin > t.range.end || t.range.end > s.size) {
      return {errc::out_of_range, which + ": key range [" + std::to_string(t.range.begin) + ", " +
                                      std::to_string(t.range.end) + ") outside [0, " +
                                      std::to_string(s.size) + ")"};
    }
  } else {
    return {errc::bad_config, which + ": unknown table kind"};
  }
  const auto& o = s.optimizer;
  if (o.kind > optimizer_kind::adam || !std::isfinite(o.learning_rate) || o.learning_rate <= 0) {
    return {errc::bad_config, which + ": invalid optimizer settings"};
  }
  return {};
}

status validate(const shard_request& req) {
  if (req.tables.empty()) return {errc::bad_config, "shard request without tables"};
  for (const auto& t : req.tables) {
    if (auto st = validate_table(req.shard, t); !st) return st;
  }
  return {};
}

// The one place where a node takes on an actor: slot check, spawn, monitor,
// bookkeeping. `spawn` returns the new actor's handle.
template <class Handle, class Spawn>
caf::result<Handle> host(node_pointer self, const char* kind, std::uint32_t id, Spawn spawn) {
  auto& st = self->state;
  if (st.hosted.size() >= st.opts.slots) {
    return refuse(
        self, kind,
        "all " + std::to_string(st.opts.slots) + " slots of node " + st.opts.name + " are in use");
  }
  Handle handle;
  try {
    handle = spawn();
  } catch (const std::exception& e) {
    return refuse(self, kind, std::string{"cannot spawn: "} + e.what());
  }
  self->monitor(handle);
  hosted_entry entry{{kind, id, sender_name(self), 0},
                     clock_type::now(),
                     caf::actor_cast<caf::strong_actor_ptr>(handle)};
  st.hosted.emplace(caf::actor_cast<caf::actor_addr>(handle), std::move(entry));
  ++st.counters.actors_spawned;
  publish_hosted(st);
  spdlog::info("node {}: hosting {} {} for {} ({}/{} slots used)", st.opts.name, kind, id,
               sender_name(self), st.hosted.size(), st.opts.slots);
  return handle;
}

// Workers and pipeline heads need the job's data on this node: loaded once
// per data set and shared by all of the node's actors (read-only). Throws
// troupe_error when the data cannot be loaded.
std::shared_ptr<const workload_data> job_data(node_pointer self, const job_config& job) {
  auto& st = self->state;
  const std::string key = job.data_set + "|" + resolved_data_dir(job) + "|" +
                          std::to_string(job.train_limit) + "|" + std::to_string(job.test_limit) +
                          "|" + std::to_string(job.split_seed) + "|" +
                          std::to_string(job.test_fraction) + "|" + std::to_string(job.min_count);
  auto& data = st.data_cache[key];
  if (!data) {
    try {
      data = load_workload_data(job);
    } catch (const troupe_error&) {
      st.data_cache.erase(key);
      throw;
    }
    spdlog::info("node {}: loaded {} ({} training rows)", st.opts.name, job.data_set,
                 data->train_rows());
  }
  return data;
}

caf::result<worker_actor> spawn_hosted_worker(node_pointer self, worker_request& req) {
  auto& st = self->state;
  job_config job;
  std::shared_ptr<const workload_data> data;
  try {
    job = parse_job_config(req.job_toml, "worker request");
    localise(st, job);
    if (req.partition >= job.workers || req.shards.size() != job.shards || !req.scheduler ||
        req.start_epoch >= job.epochs) {
      return refuse(self, "spawn worker",
                    "worker " + std::to_string(req.worker) + " (partition " +
                        std::to_string(req.partition) + ")" + " does not fit a job of " +
                        std::to_string(job.workers) + " workers and " + std::to_string(job.shards) +
                        " shards");
    }
    data = job_data(self, job);
  } catch (const troupe_error& e) {
    return refuse(self, "spawn worker", e.what(), e.code());
  }
  worker_config cfg;
  cfg.id = req.worker;
  cfg.partition = req.partition;
  cfg.start_epoch = req.start_epoch;
  cfg.start_clock = req.start_clock;
  cfg.job = std::move(job);
  return host<worker_actor>(self, "worker", req.worker, [&] {
    return spawn_worker(self->system(), std::move(cfg), data, std::move(req.shards),
                        std::move(req.scheduler), host_of(st));
  });
}

// A pipeline stage; the scheduler wires the replica's chain once all exist.
caf::result<stage_actor> spawn_hosted_stage(node_pointer self, stage_request& req) {
  auto& st = self->state;
  const auto what =
      "stage " + std::to_string(req.stage) + " of replica " + std::to_string(req.replica);
  job_config job;
  std::shared_ptr<const workload_data> data;
  try {
    job = parse_job_config(req.job_toml, "stage request");
    localise(st, job);
    if (job.stages < 2 || req.stages != job.stages || req.stage >= job.stages ||
        req.partition >= job.workers || req.shards.size() != job.shards || !req.scheduler ||
        req.start_epoch >= job.epochs) {
      return refuse(self, "spawn stage",
                    what + " (of " + std::to_string(req.stages) + ", partition " +
                        std::to_string(req.partition) + ") does not fit a job of " +
                        std::to_string(job.workers) + " replicas of " + std::to_string(job.stages) +
                        " stages and " + std::to_string(job.shards) + " shards");
    }
    // Later stages get their labels with the activations: no data to load.
    if (req.stage == 0) data = job_data(self, job);
  } catch (const troupe_error& e) {
    return refuse(self, "spawn stage", e.what(), e.code());
  }
  stage_config cfg;
  cfg.stage = req.stage;
  cfg.worker.id = req.replica;
  cfg.worker.partition = req.partition;
  cfg.worker.start_epoch = req.start_epoch;
  cfg.worker.start_clock = req.start_clock;
  cfg.worker.job = std::move(job);
  spdlog::info("node {}: {} requested", st.opts.name, what);
  return host<stage_actor>(self, "stage", req.replica * req.stages + req.stage, [&] {
    return spawn_stage(self->system(), std::move(cfg), data, std::move(req.shards),
                       std::move(req.scheduler), host_of(st));
  });
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
  if (peer_nonce.empty() || peer_nonce.size() > 256) {
    return refuse(self, "auth", "the peer's nonce must have 1 to 256 characters");
  }
  if (!verify_proof(st.opts.secret, nonce, auth_context("client", client, server), proof)) {
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
  if (st.opts.metrics) {
    const auto t = st.opts.metrics->snapshot();
    out.pushes = t.pushes;
    out.pulls = t.pulls;
    out.bytes_in = t.bytes_in;
    out.bytes_out = t.bytes_out;
    out.staleness_waits = t.staleness_waits;
  }
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
                 reason_text(dm.reason));
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
  if (auto adm = st.admitted.find(peer); adm != st.admitted.end()) {
    for (const auto& other : adm->second) {
      if (st.sessions.count(other) == 0) st.opts.guard->revoke(other);
    }
    st.admitted.erase(adm);
  }
  spdlog::info("node {}: session of peer {} ended ({}); peer revoked", st.opts.name,
               caf::to_string(peer), reason_text(dm.reason));
}

void on_exit(node_pointer self, const caf::exit_msg& msg) {
  const auto& sender = self->current_sender();
  if (!sender || sender->node() != self->node()) {
    refuse(self, "exit", "only local actors may stop a node");
    return;
  }
  auto& st = self->state;
  spdlog::info("node {}: stopping ({}); {} hosted actors told to exit", st.opts.name,
               reason_text(msg.reason), st.hosted.size());
  self->quit(msg.reason);  // the lifeline stops the hosted actors
}

node_actor::behavior_type node_behavior(node_pointer self, node_options opts) {
  self->state.opts = std::move(opts);
  // Hosted actors end with their node, however it ends (even exit_reason::kill,
  // which bypasses the exit handler). Not a link: a killed shard must not take
  // its node along.
  self->attach_functor([hosted = self->state.hosted_ptr] {
    for (const auto& [addr, entry] : *hosted) {
      caf::anon_send_exit(entry.handle, caf::exit_reason::user_shutdown);
    }
  });
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
        if (auto st = validate(req); !st) {
          return refuse(self, "spawn shard", st.message(), st.code());
        }
        return host<shard_actor>(self, "shard", req.shard, [&] {
          return spawn_shard(self->system(), req.shard, std::move(req.tables),
                             host_of(self->state));
        });
      },
      [=](spawn_atom, worker_request& req) -> caf::result<worker_actor> {
        if (auto err = require_admitted(self, "spawn worker")) return err;
        return spawn_hosted_worker(self, req);
      },
      [=](spawn_atom, stage_request& req) -> caf::result<stage_actor> {
        if (auto err = require_admitted(self, "spawn stage")) return err;
        return spawn_hosted_stage(self, req);
      },
      [=](admit_atom, const std::vector<caf::node_id>& peers) -> caf::result<std::uint64_t> {
        if (auto err = require_admitted(self, "admit")) return err;
        auto& st = self->state;
        auto& mine = st.admitted[self->current_sender()->node()];
        for (const auto& peer : peers) {
          if (peer == caf::node_id{} || peer == self->node()) continue;
          st.opts.guard->allow(peer);
          mine.push_back(peer);
        }
        spdlog::info("node {}: {} admitted {} job peers", st.opts.name, sender_name(self),
                     peers.size());
        return static_cast<std::uint64_t>(mine.size());
      },
      [=](link_atom, const std::vector<std::string>& peers) -> caf::result<std::uint64_t> {
        if (auto err = require_admitted(self, "link")) return err;
        for (const auto& address : peers) link_to_peer(self, address);
        return static_cast<std::uint64_t>(peers.size());
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

caf::error authenticate(caf::scoped_actor& self, const node_actor& node, const std::string& secret,
                        std::chrono::milliseconds timeout) {
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
