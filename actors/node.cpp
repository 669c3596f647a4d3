#include "actors/node.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <tuple>

#include "actors/actor_config.hpp"
#include "actors/job_lease.hpp"
#include "actors/log_throttle.hpp"
#include "actors/metrics_exporter.hpp"
#include "actors/peer_address.hpp"
#include "actors/peer_guard.hpp"
#include "actors/remote_connect.hpp"
#include "actors/shard.hpp"
#include "actors/stage_actor.hpp"
#include "actors/tls_config.hpp"
#include "actors/training_host.hpp"
#include "engine/auth.hpp"
#include "engine/physical_memory.hpp"
#include "engine/store/optimizer.hpp"
#include "engine/wire/shared_memory.hpp"

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

// Shared by a node and its linkers (link_to_peers).
struct links_in_flight {
  std::mutex mutex;
  std::deque<std::string> queue;    // to link, in order
  std::set<std::string> addresses;  // queued or being linked
  std::size_t linkers = 0;          // running
};

struct node_state {
  node_options opts;
  std::string address;
  clock_type::time_point started = clock_type::now();
  std::map<caf::node_id, challenge> challenges;                // pending, one per peer node
  std::uint64_t challenges_evicted = 0;                        // to make room for newer hellos
  std::map<caf::node_id, std::set<caf::actor_addr>> sessions;  // authenticated actors per node
  // Shared with the lifeline that stops hosted actors when the node ends.
  std::shared_ptr<std::map<caf::actor_addr, hosted_entry>> hosted_ptr =
      std::make_shared<std::map<caf::actor_addr, hosted_entry>>();
  std::map<caf::actor_addr, hosted_entry>& hosted = *hosted_ptr;
  // Set when the node ends: its linkers stop waiting for peers (link_to_peers).
  std::shared_ptr<std::atomic<bool>> ended = std::make_shared<std::atomic<bool>>(false);
  // Workers hosted now, counted by the workers themselves (host_context).
  std::shared_ptr<std::atomic<std::size_t>> workers = std::make_shared<std::atomic<std::size_t>>(0);
  // Addresses a linker is connecting to now (shared with the linkers).
  std::shared_ptr<links_in_flight> linking = std::make_shared<links_in_flight>();
  node_status counters;  // only the counter fields are used
  // Peers admitted by an authenticated peer for its job, revoked with its session.
  std::map<caf::node_id, std::vector<caf::node_id>> admitted;
  job_leases leases{std::chrono::milliseconds(10000)};  // every hosted actor's job
  log_throttle refusals{"node"};                        // named in node_behavior
  bool draining = false;                                // stopping: no new actors
  // Data loads running off the node's thread (spawn_after_load).
  std::shared_ptr<std::atomic<int>> loads = std::make_shared<std::atomic<int>>(0);
  bool trim_pending = false;  // idle since the last lease check
  clock_type::time_point drain_deadline;
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

// More peers than a job of this engine has: a link request naming more is
// refused (each peer takes a thread while it connects).
constexpr std::size_t max_job_peers = 256;

// Counts, logs and answers a refused request. A node that is full
// (no_capacity) rejects nothing wrong: a job waiting for its turn is no
// rejected message to alert on, and an info line.
caf::error refuse(node_pointer self, const char* what, const std::string& why,
                  errc code = errc::bad_config) {
  const bool busy = code == errc::no_capacity;
  if (!busy) {
    ++self->state.counters.requests_rejected;
    if (self->state.opts.metrics) self->state.opts.metrics->add_rejected();
  }
  // Unauthenticated peers can send refusals as fast as the network allows.
  if (self->state.refusals.admit()) {
    log_peer(self, self->current_sender(),
             [name = self->state.opts.name, what = std::string{what}, why,
              level = busy ? spdlog::level::info : spdlog::level::warn](const std::string& who) {
               spdlog::log(level, "node {}: refused {} from {}: {}", name, what, who, why);
             });
  }
  return make_troupe_error(code, why);
}

// A direct BASP connection to each other node of a job: CAF 0.17 routes
// messages between two nodes that only know each other through a third
// (the scheduler's process) over that third process, which then copies every
// pull and push twice; with a direct connection the routing table prefers
// it. The other node's daemon is reached like any peer (its guard, its
// handshake); it already admits this node for the job. Detached linkers
// connect, side by side, so that a peer that does not answer holds up
// neither this node, nor its middleman, nor the links to most other peers;
// they give up when the node ends. TLS when this node listens with TLS: the
// other nodes accept nothing else.
//
// A linker is a thread for up to its deadline per peer, so there are at
// most max_linkers, taking addresses from one queue of at most
// max_job_peers, each address once however many requests name it (eight
// requests of 256 peers once took a daemon from 10 threads to 2,050). Few
// linkers also keep the node's shutdown safe: CAF 0.17.6's clock takes 64
// events once stopped, and each actor ending after it adds one.
constexpr std::size_t max_linkers = 16;

void run_linker(caf::blocking_actor* linker, const std::string& name,
                const std::shared_ptr<std::atomic<bool>>& ended,
                const std::shared_ptr<links_in_flight>& linking) {
  std::string address;
  for (;;) {
    {
      std::lock_guard lock(linking->mutex);
      if (!address.empty()) linking->addresses.erase(address);
      if (linking->queue.empty() || ended->load()) {
        --linking->linkers;
        return;
      }
      address = std::move(linking->queue.front());
      linking->queue.pop_front();
    }
    std::string host;
    std::uint16_t port = 0;
    try {
      std::tie(host, port) = parse_address(address);
    } catch (const troupe_error& e) {
      spdlog::warn("node {}: cannot link to '{}': {}", name, address, e.what());
      continue;
    }
    auto peer = connect_endpoint(*linker, host, port,
                                 handshake_deadline(configured_peer_timeout(linker->system())),
                                 ended.get());
    if (peer) {
      spdlog::info("node {}: linked to {} ({})", name, address,
                   caf::to_string(peer->actor->node()));
    } else if (!ended->load()) {
      // Traffic then takes the detour: slower, not wrong.
      spdlog::warn("node {}: cannot link to {}: {}; traffic goes through the scheduler", name,
                   address, describe(peer.error()));
    }
  }
}

caf::result<std::uint64_t> link_to_peers(node_pointer self, std::vector<std::string> addresses) {
  std::sort(addresses.begin(), addresses.end());
  addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
  const auto requested = static_cast<std::uint64_t>(addresses.size());
  auto& linking = *self->state.linking;
  std::size_t start = 0;
  {
    std::lock_guard lock(linking.mutex);
    // Queued or being linked already: that serves this request too.
    addresses.erase(
        std::remove_if(addresses.begin(), addresses.end(),
                       [&](const std::string& a) { return linking.addresses.count(a) > 0; }),
        addresses.end());
    if (linking.addresses.size() + addresses.size() > max_job_peers) {
      return refuse(self, "link",
                    std::to_string(linking.addresses.size()) + " links under way and " +
                        std::to_string(addresses.size()) + " more asked for: at most " +
                        std::to_string(max_job_peers) + " at a time");
    }
    for (auto& a : addresses) {
      linking.addresses.insert(a);
      linking.queue.push_back(std::move(a));
    }
    start = std::min(max_linkers - linking.linkers, linking.queue.size());
    linking.linkers += start;
  }
  for (std::size_t i = 0; i < start; ++i) {
    // (Arguments, not captures: CAF 0.17 dereferences a null argument tuple
    // for a function actor spawned without any.)
    self->system().spawn<caf::detached + caf::hidden>(run_linker, self->state.opts.name,
                                                      self->state.ended, self->state.linking);
  }
  return requested;
}

// An error if the current sender's node has not authenticated.
caf::error require_admitted(node_pointer self, const char* what) {
  if (sender_allowed(self, *self->state.opts.guard)) return {};
  // auth_failed: a credential is missing (a client with TLS alone, say, at a
  // node that also wants the secret), which `troupe train` tells apart
  // (exit 3) from a configuration the job does not share.
  return refuse(self, what,
                "not authenticated: this node requires the cluster secret, which this peer has "
                "not proven, or its session has ended (--secret, or [cluster] secret_file; a "
                "hello and auth first)",
                errc::auth_failed);
}

void prune_challenges(node_state& st) {
  const auto now = clock_type::now();
  for (auto it = st.challenges.begin(); it != st.challenges.end();) {
    it = now - it->second.issued > st.opts.challenge_ttl ? st.challenges.erase(it) : std::next(it);
  }
}

// What hosted actors get from their node: its guard, counters, checkpoint
// root and shared memory.
host_context host_of(const node_state& st) {
  return {st.opts.guard, st.opts.metrics, st.opts.checkpoint_dir, st.opts.shm, st.workers};
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
  if (auto why = check_optimizer(s.optimizer); !why.empty()) {
    return {errc::bad_config, which + ": " + why};
  }
  return {};
}

// What a shard's dense ranges take at once (values, optimizer state, and a
// step count per key where the optimizer reads one); sparse rows grow later.
std::uint64_t dense_bytes(const shard_request& req) {
  std::uint64_t total = 0;
  for (const auto& t : req.tables) {
    if (t.spec.kind != table_kind::dense) continue;
    const std::uint64_t keys = t.range.end - t.range.begin;
    const std::uint64_t per_key = dense_key_bytes(t.spec.optimizer);
    const auto max = std::numeric_limits<std::uint64_t>::max();
    if (keys > (max - total) / per_key) return max;  // no machine has it anyway
    total += keys * per_key;
  }
  return total;
}

status validate(const shard_request& req) {
  if (req.tables.empty()) return {errc::bad_config, "shard request without tables"};
  for (const auto& t : req.tables) {
    if (auto st = validate_table(req.shard, t); !st) return st;
  }
  // Under overcommit a range larger than the machine is allocated anyway,
  // then filled: the kernel's OOM killer would take the daemon, and every
  // job on it, instead of refusing the one request.
  if (const auto ram = physical_memory_bytes(); ram > 0) {
    if (const auto need = dense_bytes(req); need > ram) {
      return {errc::bad_config, "shard " + std::to_string(req.shard) + " would need " +
                                    std::to_string(need >> 20) + " MiB for its dense ranges; " +
                                    "this node has " + std::to_string(ram >> 20) + " MiB"};
    }
  }
  return {};
}

// "42@<node id>": a job, named by its scheduler actor.
std::string job_name(const caf::strong_actor_ptr& owner) {
  return owner ? std::to_string(owner->id()) + "@" + caf::to_string(owner->node())
               : std::string{"(anonymous)"};
}

// The sender's job opened its lease here (its first actor or reservation):
// the node watches its scheduler from now on.
void job_started(node_pointer self, const caf::strong_actor_ptr& owner) {
  self->monitor(
      caf::actor_cast<caf::actor>(owner));  // a scheduler that is already gone is reported at once
  // Who started it, by address: under TLS no authentication line names the
  // trainer's machine before this one.
  log_peer(self, owner,
           [name = self->state.opts.name, job = job_name(owner),
            lease = self->state.leases.timeout().count()](const std::string& who) {
             spdlog::info("node {}: job of scheduler {} started here by {} (lease timeout {} ms)",
                          name, job, who, lease);
           });
}

// The current sender asked for `actor`: it belongs to the sender's job.
void hold_for_job(node_pointer self, const caf::actor_addr& actor) {
  const auto& owner = self->current_sender();
  if (self->state.leases.add(caf::actor_cast<caf::actor_addr>(owner), actor, clock_type::now())) {
    job_started(self, owner);
  }
}

caf::result<std::uint32_t> reserve_slots(node_pointer self, std::uint32_t slots) {
  auto& st = self->state;
  const auto& owner = self->current_sender();
  if (!owner) return refuse(self, "reserve", "an anonymous sender has no job");
  const auto key = caf::actor_cast<caf::actor_addr>(owner);
  if (slots == 0) {
    st.leases.reserve(key, 0, clock_type::now());
    return std::uint32_t{0};
  }
  if (st.draining) return refuse(self, "reserve", "node " + st.opts.name + " is stopping");
  if (slots > st.opts.slots) {  // waiting cannot help
    return refuse(self, "reserve",
                  "the job needs " + std::to_string(slots) + " slots on node " + st.opts.name +
                      ", which has " + std::to_string(st.opts.slots) + " in all");
  }
  const auto others = st.leases.reserved(key);
  const auto taken = st.hosted.size() + others;
  const auto free = taken >= st.opts.slots ? std::size_t{0} : st.opts.slots - taken;
  if (slots > free) {
    return refuse(self, "reserve",
                  "node " + st.opts.name + " has " + std::to_string(free) + " of its " +
                      std::to_string(st.opts.slots) + " slots free (" +
                      std::to_string(st.hosted.size()) + " hosting, " + std::to_string(others) +
                      " set aside for other jobs); the job needs " + std::to_string(slots),
                  errc::no_capacity);
  }
  if (st.leases.reserve(key, slots, clock_type::now())) job_started(self, owner);
  spdlog::info(
      "node {}: {} slots set aside for the job of scheduler {} ({} hosting, {} set aside "
      "for others, {} in all)",
      st.opts.name, slots, job_name(owner), st.hosted.size(), others, st.opts.slots);
  return slots;
}

// A job is over for this node: its actors are told to exit; their slots free
// as their down messages arrive.
void release_job(node_pointer self, const job_leases::ended& job, const std::string& why) {
  auto& st = self->state;
  ++st.counters.jobs_released;
  std::size_t told = 0;
  for (const auto& actor : job.actors) {
    auto it = st.hosted.find(actor);
    if (it == st.hosted.end()) continue;
    it->second.info.ending = true;
    self->send_exit(
        it->second.handle,
        make_troupe_error(errc::stopped, "released by node " + st.opts.name + ": " + why));
    ++told;
  }
  const auto name = caf::to_string(job.owner.node());
  if (told == 0) {
    spdlog::info("node {}: job of scheduler {}@{} ended ({})", st.opts.name, job.owner.id(), name,
                 why);
    return;
  }
  spdlog::info("node {}: job of scheduler {}@{} ended ({}); releasing its {} actors", st.opts.name,
               job.owner.id(), name, why, told);
}

// The one place where a node takes on an actor: slot check, spawn, monitor,
// bookkeeping. `spawn` returns the new actor's handle.
template <class Handle, class Spawn>
caf::result<Handle> host(node_pointer self, const char* kind, std::uint32_t id, Spawn spawn) {
  auto& st = self->state;
  if (st.draining) return refuse(self, kind, "node " + st.opts.name + " is stopping");
  // What other jobs set aside is not free; what the sender's job set aside
  // is taken by this actor.
  const auto owner = caf::actor_cast<caf::actor_addr>(self->current_sender());
  const auto others = st.leases.reserved(owner);
  if (st.hosted.size() + others >= st.opts.slots) {
    return refuse(self, kind,
                  "all " + std::to_string(st.opts.slots) + " slots of node " + st.opts.name +
                      " are in use" +
                      (others > 0 ? " or set aside for other jobs (" + std::to_string(others) + ")"
                                  : std::string{}),
                  errc::no_capacity);
  }
  Handle handle;
  try {
    handle = spawn();
  } catch (const std::exception& e) {
    return refuse(self, kind, std::string{"cannot spawn: "} + e.what());
  }
  self->monitor(handle);
  const auto addr = caf::actor_cast<caf::actor_addr>(handle);
  hosted_entry entry{{kind, id, sender_name(self), 0, job_name(self->current_sender())},
                     clock_type::now(),
                     caf::actor_cast<caf::strong_actor_ptr>(handle)};
  st.hosted.emplace(addr, std::move(entry));
  hold_for_job(self, addr);  // takes one of the slots its job set aside
  ++st.counters.actors_spawned;
  publish_hosted(st);
  spdlog::info("node {}: hosting {} {} for {} ({}/{} slots used)", st.opts.name, kind, id,
               sender_name(self), st.hosted.size(), st.opts.slots);
  return handle;
}

// Workers and pipeline stages come from the node's training host; a node
// without one (an engine serving tables) hosts shards only.
template <class Handle>
caf::result<Handle> host_training(node_pointer self, const char* kind, std::uint32_t id,
                                  hosted_spawn<Handle> prepared) {
  auto& st = self->state;
  const std::string what = std::string("spawn ") + kind;
  if (!prepared.spawn) {
    return refuse(self, what.c_str(), prepared.problem.message(), prepared.problem.code());
  }
  if (!prepared.what.empty()) spdlog::info("node {}: {} requested", st.opts.name, prepared.what);
  return host<Handle>(self, kind, id, [&] { return prepared.spawn(self->system(), host_of(st)); });
}

// A job's request must never end the node: an exception leaving a handler
// ends a CAF 0.17 actor, and the node actor's end ends the daemon with every
// other job's actors on it. The training host reports the problems it knows
// as troupe_errors; anything else (a job the engine cannot build, a data file
// that exhausts memory) is refused here with what it said.
template <class Handle, class Prepare>
hosted_spawn<Handle> prepare_or_refuse(const std::string& what, Prepare&& prepare) {
  hosted_spawn<Handle> out;
  try {
    return prepare();
  } catch (const std::bad_alloc&) {
    out.problem = {errc::io_error, what + ": out of memory while preparing it"};
  } catch (const std::exception& e) {
    out.problem = {errc::bad_config, what + ": " + e.what()};
  } catch (...) {
    out.problem = {errc::bad_config, what + ": an unknown error while preparing it"};
  }
  return out;
}

// Loads a job's data set off the node's thread, then hands the spawn
// request back to the node as its sender sent it (a delegation keeps the
// sender and the response id), which hosts the actor from the data now held:
//
//   scheduler --spawn(req)--> node --delegate--> loader (loads the data)
//   scheduler <--worker-- node <--delegate(req)-- loader
//
// Loaded in the node's handler, a data set of seconds held up everything the
// node does meanwhile: `troupe status`, logins, other jobs, the copy of a
// promoted shard to its new backup (a second node lost then ended the job),
// and a stop (spawns it should refuse were hosted after it).
using data_loader_actor =
    caf::typed_actor<caf::replies_to<spawn_atom, worker_request>::with<worker_actor>,
                     caf::replies_to<spawn_atom, stage_request>::with<stage_actor>>;

data_loader_actor::behavior_type data_loader(data_loader_actor::pointer self,
                                             std::shared_ptr<training_host> training,
                                             node_actor node,
                                             std::shared_ptr<std::atomic<int>> loads) {
  self->attach_functor([loads] { --*loads; });
  // One request, either kind: load, hand it back, end.
  auto load_and_return = [=](auto& req) {
    training->preload(req.job_toml);
    auto back = self->delegate(node, spawn_atom::value, std::move(req));
    self->quit();
    return back;
  };
  return {
      [=](spawn_atom, worker_request& req) -> caf::result<worker_actor> {
        return load_and_return(req);
      },
      [=](spawn_atom, stage_request& req) -> caf::result<stage_actor> {
        return load_and_return(req);
      },
  };
}

// At most this many loads at once; a request beyond them loads on the
// node's thread as before (each load takes a thread of its own). A request
// for a set already loading always waits off the thread (cheap): loaded
// again on it, the node held two copies and blocked meanwhile.
constexpr int max_loads = 4;

// Whether the request was handed to a loader (the node answers it later).
// A loader leaves the set held or its failure kept, so the request comes
// back once: then needs_load() says none.
template <class Request>
bool load_first(node_pointer self, const Request& req) {
  auto& st = self->state;
  if (st.draining || !st.opts.training) return false;
  using need = training_host::load_need;
  const auto n = st.opts.training->needs_load(req.job_toml);
  if (n == need::none || (n == need::load && *st.loads >= max_loads)) return false;
  ++*st.loads;
  return true;
}

template <class Request>
auto spawn_after_load(node_pointer self, Request& req) {
  auto& st = self->state;
  auto loader = self->spawn<caf::detached>(data_loader, st.opts.training,
                                           caf::actor_cast<node_actor>(self), st.loads);
  return self->delegate(loader, spawn_atom::value, std::move(req));
}

caf::result<worker_actor> spawn_hosted_worker(node_pointer self, worker_request& req) {
  auto& st = self->state;
  if (!st.opts.training) {
    return refuse(self, "spawn worker", "this node hosts tables only, no training");
  }
  return host_training<worker_actor>(
      self, "worker", req.worker,
      prepare_or_refuse<worker_actor>("worker " + std::to_string(req.worker),
                                      [&] { return st.opts.training->prepare_worker(req); }));
}

// A pipeline stage; the scheduler wires the replica's chain once all exist.
caf::result<stage_actor> spawn_hosted_stage(node_pointer self, stage_request& req) {
  auto& st = self->state;
  if (!st.opts.training) {
    return refuse(self, "spawn stage", "this node hosts tables only, no training");
  }
  const auto id = req.replica * req.stages + req.stage;
  return host_training<stage_actor>(
      self, "stage", id,
      prepare_or_refuse<stage_actor>(
          "stage " + std::to_string(req.stage) + " of replica " + std::to_string(req.replica),
          [&] { return st.opts.training->prepare_stage(req); }));
}

caf::result<std::string> on_hello(node_pointer self) {
  auto& st = self->state;
  const auto& sender = self->current_sender();
  if (!sender) return refuse(self, "hello", "anonymous sender");
  prune_challenges(st);
  const auto peer = sender->node();
  if (st.challenges.size() >= st.opts.max_challenges && st.challenges.count(peer) == 0) {
    // The oldest challenge makes room rather than the new hello being
    // refused: else hellos from made-up node ids (the connection closed at
    // once) would lock every real peer out until they expired. A real peer
    // answers within a round trip; only a flood that outpaces that evicts it.
    auto oldest = st.challenges.begin();
    for (auto it = st.challenges.begin(); it != st.challenges.end(); ++it) {
      if (it->second.issued < oldest->second.issued) oldest = it;
    }
    st.challenges.erase(oldest);
    ++st.challenges_evicted;
    if ((st.challenges_evicted & (st.challenges_evicted - 1)) == 0) {  // 1, 2, 4, ...: no log flood
      spdlog::warn("node {}: {} pending handshakes (the most kept); {} evicted so far",
                   st.opts.name, st.opts.max_challenges, st.challenges_evicted);
    }
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
  // A TLS-only node's secret is a random one nobody holds: a client that
  // offers a secret is told the node has none ("wrong proof of the cluster
  // secret" sent its operator looking for one).
  const bool no_secret = st.opts.guard->trusts_every_peer();
  if (no_secret ||
      !verify_proof(st.opts.secret, nonce, auth_context("client", client, server), proof)) {
    ++st.counters.auth_failed;
    if (st.opts.metrics) st.opts.metrics->add_rejected();
    if (st.refusals.admit()) {
      log_peer(self, peer, [name = st.opts.name, no_secret](const std::string& who) {
        spdlog::warn("node {}: authentication failed for peer {}: {}", name, who,
                     no_secret ? "it offered a cluster secret, and this node has none (its TLS "
                                 "certificates admit peers)"
                               : "wrong proof of the cluster secret");
      });
    }
    return make_troupe_error(errc::bad_config,
                             no_secret ? std::string{no_secret_here} : "authentication failed");
  }
  auto& session = st.sessions[peer];
  if (session.insert(caf::actor_cast<caf::actor_addr>(sender)).second) self->monitor(sender);
  st.opts.guard->allow(peer);
  ++st.counters.auth_ok;
  log_peer(self, peer, [name = st.opts.name](const std::string& who) {
    spdlog::info("node {}: peer {} authenticated", name, who);
  });
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
  out.slots_reserved = static_cast<std::uint32_t>(st.leases.reserved());
  out.uptime_s = std::chrono::duration<double>(now - st.started).count();
  out.peer_timeout_ms = configured_peer_timeout(self->system()).count();
  out.peers = st.sessions.size();
  out.jobs = st.leases.jobs();
  out.connections_refused = st.opts.connections_refused ? st.opts.connections_refused->load() : 0;
  out.credentials = st.opts.credentials;
  // Only a node that hosts training runs models (a tables-only one: none).
  if (st.opts.training) out.models = st.opts.training->models();
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
    st.leases.remove(dm.source);
    ++st.counters.actors_down;
    publish_hosted(st);
    if (!st.hosted.empty()) return;
    // Idle again: the next lease check hands the job's freed memory back to
    // the OS (by then the last actor's thread has freed it too).
    st.trim_pending = true;
    if (st.draining) {
      spdlog::info("node {}: every hosted actor ended; stopping", st.opts.name);
      self->quit(caf::exit_reason::user_shutdown);
    }
    return;
  }
  if (st.leases.holds(dm.source)) {  // a job's scheduler: monitored since its lease opened
    release_job(self, st.leases.end(dm.source), "its scheduler ended: " + reason_text(dm.reason));
  }
  const auto peer = dm.source.node();
  auto it = st.sessions.find(peer);
  if (it == st.sessions.end() || it->second.erase(dm.source) == 0 || !it->second.empty()) return;
  st.sessions.erase(it);
  std::vector<caf::node_id> vouched;
  if (auto adm = st.admitted.find(peer); adm != st.admitted.end()) {
    vouched = std::move(adm->second);
    st.admitted.erase(adm);
  }
  // A peer stays admitted while another live session still vouches for it:
  // two jobs may share a node, and one job's end must not cut the other's.
  const auto still_vouched = [&st](const caf::node_id& who) {
    return std::any_of(st.admitted.begin(), st.admitted.end(), [&who](const auto& entry) {
      return std::find(entry.second.begin(), entry.second.end(), who) != entry.second.end();
    });
  };
  const bool kept = still_vouched(peer);
  if (!kept) st.opts.guard->revoke(peer);
  for (const auto& other : vouched) {
    if (st.sessions.count(other) == 0 && !still_vouched(other)) st.opts.guard->revoke(other);
  }
  spdlog::info("node {}: session of peer {} ended ({}); {}", st.opts.name, caf::to_string(peer),
               reason_text(dm.reason),
               kept ? "peer still admitted by another job's session" : "peer revoked");
}

void on_exit(node_pointer self, const caf::exit_msg& msg) {
  const auto& sender = self->current_sender();
  if (!sender || sender->node() != self->node()) {
    refuse(self, "exit", "only local actors may stop a node");
    return;
  }
  auto& st = self->state;
  if (st.hosted.empty() || st.draining) {
    spdlog::info("node {}: stopping ({})", st.opts.name, reason_text(msg.reason));
    self->quit(msg.reason);  // the lifeline stops what is left
    return;
  }
  // Drain: the node quits once every hosted actor is gone (on_down), so that
  // none is still ending while the actor system shuts down (CAF 0.17 would
  // then wait for it forever: see tools/node_command.cpp).
  st.draining = true;
  st.drain_deadline = clock_type::now() + st.opts.drain_timeout;
  spdlog::info("node {}: stopping ({}); draining: {} hosted actors told to exit", st.opts.name,
               reason_text(msg.reason), st.hosted.size());
  for (auto& [addr, entry] : st.hosted) {
    entry.info.ending = true;
    // Not errc::stopped (an actor that failed by itself): a scheduler
    // replaces what a stopping node hosted, as for a lost node.
    self->send_exit(entry.handle, make_troupe_error(errc::node_stopping,
                                                    "node " + st.opts.name + " is stopping"));
  }
  self->delayed_send(self, st.opts.drain_timeout, expire_atom::value);
}

// Releases the jobs whose lease lapsed; ends a drain that took too long.
void on_expire(node_pointer self) {
  auto& st = self->state;
  if (self->current_sender().get() != self->ctrl()) {
    refuse(self, "expire", "local only");
    return;
  }
  const auto now = clock_type::now();
  st.refusals.flush();  // the end of a burst of refusals is told too
  if (st.opts.training) st.opts.training->trim();
  if (st.trim_pending && st.hosted.empty() && st.opts.shm) {
    // Peers' shared-memory regions, the dead ones' too: mapped again when used.
    if (const auto n = st.opts.shm->forget_peers(); n > 0) {
      spdlog::debug("node {}: idle; unmapped {} peers' shared memory", st.opts.name, n);
    }
  }
#ifdef __GLIBC__
  if (st.trim_pending && st.hosted.empty()) malloc_trim(0);  // data sets, tables
#endif
  st.trim_pending = false;
  for (const auto& job : st.leases.expire(now)) {
    ++st.counters.leases_expired;
    release_job(
        self, job,
        "its lease was not renewed for " + std::to_string(st.leases.timeout().count()) + " ms");
  }
  if (st.draining && now >= st.drain_deadline) {
    spdlog::warn("node {}: {} hosted actors still ending after {} ms; stopping anyway",
                 st.opts.name, st.hosted.size(), st.opts.drain_timeout.count());
    self->quit(caf::exit_reason::user_shutdown);
  }
}

node_actor::behavior_type node_behavior(node_pointer self, node_options opts) {
  self->state.opts = std::move(opts);
  self->state.leases = job_leases{self->state.opts.lease_timeout};
  self->state.refusals = log_throttle{"node " + self->state.opts.name + ": refusals"};
  // Leases are checked a few times per timeout.
  const auto tick = std::max(std::chrono::milliseconds(50), self->state.opts.lease_timeout / 4);
  // Hosted actors end with their node, however it ends (even exit_reason::kill,
  // which bypasses the exit handler). Not a link: a killed shard must not take
  // its node along.
  self->attach_functor([ended = self->state.ended] { *ended = true; });
  self->attach_functor([hosted = self->state.hosted_ptr] {
    for (const auto& [addr, entry] : *hosted) {
      caf::anon_send_exit(entry.handle, caf::exit_reason::user_shutdown);
    }
  });
  self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
  self->set_exit_handler([=](caf::exit_msg& msg) { on_exit(self, msg); });
  // CAF's default ends an actor on any error message nobody asked for (an
  // authenticated peer's bug; before authentication they are refused).
  self->set_error_handler([=](caf::error& err) {
    refuse(self, "an error message", "nobody asked for it (" + describe(err) + ")");
  });
  self->delayed_send(self, tick, expire_atom::value);
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
        if (load_first(self, req)) return spawn_after_load(self, req);
        return spawn_hosted_worker(self, req);
      },
      [=](spawn_atom, stage_request& req) -> caf::result<stage_actor> {
        if (auto err = require_admitted(self, "spawn stage")) return err;
        // Later stages get their inputs with the activations: no data.
        if (req.stage == 0 && load_first(self, req)) return spawn_after_load(self, req);
        return spawn_hosted_stage(self, req);
      },
      [=](admit_atom, const std::vector<caf::node_id>& peers,
          std::int64_t peer_timeout_ms) -> caf::result<std::uint64_t> {
        if (auto err = require_admitted(self, "admit")) return err;
        auto& st = self->state;
        // Caught here, at the job's start, with both sides named: else each
        // side drops the other once its heartbeats come too seldom, and the
        // job sees only a lost peer.
        if (const auto mine = configured_peer_timeout(self->system()).count();
            peer_timeout_ms != mine) {
          return refuse(self, "admit",
                        "peer timeout mismatch: the job's is " + std::to_string(peer_timeout_ms) +
                            " ms, this node's " + std::to_string(mine) +
                            " ms (troupe node --peer-timeout or node.toml peer_timeout_s; the "
                            "job's [cluster] peer_timeout_s or troupe train --peer-timeout): "
                            "every process of a cluster needs the same");
        }
        if (st.opts.guard->trusts_every_peer()) {
          // TLS without a secret: every certified node is allowed already,
          // and no session would ever end to take such entries back (one
          // per job, kept for the daemon's life).
          return static_cast<std::uint64_t>(std::count_if(
              peers.begin(), peers.end(),
              [&](const caf::node_id& p) { return p != caf::node_id{} && p != self->node(); }));
        }
        auto& mine = st.admitted[self->current_sender()->node()];
        for (const auto& peer : peers) {
          if (peer == caf::node_id{} || peer == self->node()) continue;
          st.opts.guard->allow(peer);
          if (std::find(mine.begin(), mine.end(), peer) == mine.end()) mine.push_back(peer);
        }
        spdlog::info("node {}: {} admitted {} job peers", st.opts.name, sender_name(self),
                     peers.size());
        return static_cast<std::uint64_t>(mine.size());
      },
      [=](link_atom, std::vector<std::string>& peers) -> caf::result<std::uint64_t> {
        if (auto err = require_admitted(self, "link")) return err;
        if (peers.size() > max_job_peers) {
          return refuse(self, "link",
                        std::to_string(peers.size()) + " peers, more than any job has (" +
                            std::to_string(max_job_peers) + ")");
        }
        return link_to_peers(self, std::move(peers));
      },
      [=](reserve_atom, std::uint32_t slots) -> caf::result<std::uint32_t> {
        if (auto err = require_admitted(self, "reserve")) return err;
        return reserve_slots(self, slots);
      },
      [=](status_atom) -> caf::result<node_status> {
        if (auto err = require_admitted(self, "status")) return err;
        return make_status(self);
      },
      [=](lease_atom, const caf::actor& owner) -> caf::result<bool> {
        if (auto err = require_admitted(self, "lease")) return err;
        if (!owner || owner.node() != self->current_sender()->node()) {
          return refuse(self, "lease", "a process renews the leases of its own jobs only");
        }
        return self->state.leases.renew(owner.address(), clock_type::now());
      },
      [=](expire_atom) {
        on_expire(self);
        if (!self->state.draining) self->delayed_send(self, tick, expire_atom::value);
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
