// troupe::engine: shards, a private node actor for the handshake, the table
// directory, and optionally a published port, in an actor system of its own.
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "actors/client_call.hpp"
#include "actors/client_reaper.hpp"
#include "actors/cluster_types.hpp"
#include "actors/guarded_listener.hpp"
#include "actors/peer_guard.hpp"
#include "actors/public_tables.hpp"
#include "actors/service_client.hpp"
#include "actors/shard.hpp"
#include "engine/address.hpp"
#include "engine/auth.hpp"
#include "engine/physical_memory.hpp"
#include "engine/store/optimizer.hpp"
#include "troupe/engine.hpp"

namespace troupe {

namespace {

result<std::vector<table_spec>> to_specs(const engine_options& o) {
  if (o.tables.empty()) return api_error{api_errc::bad_argument, "an engine needs a table"};
  if (o.shards == 0 || o.shards > 4096) {
    return api_error{api_errc::bad_argument, "shards must be in [1, 4096]"};
  }
  std::vector<table_spec> out;
  std::set<std::string> names;
  for (const auto& t : o.tables) {
    auto s = table_spec_of(t, static_cast<std::uint32_t>(out.size() + 1));
    if (!s) return s.error();
    if (!names.insert(t.name).second) {
      return api_error{api_errc::bad_argument, "two tables named '" + t.name + "'"};
    }
    out.push_back(std::move(s).value());
  }
  // The shards allocate their dense tables when they first run, after
  // start() returned: one larger than the machine would end them (or,
  // under overcommit, the OOM killer the whole process) instead of being
  // refused here.
  std::uint64_t dense = 0;
  for (const auto& s : out) {
    if (s.kind != table_kind::dense) continue;
    const std::uint64_t per_key = dense_key_bytes(s.optimizer);
    if (s.size > (std::numeric_limits<std::uint64_t>::max() - dense) / per_key) {
      dense = std::numeric_limits<std::uint64_t>::max();
      break;
    }
    dense += s.size * per_key;
  }
  if (const auto ram = physical_memory_bytes(); ram > 0 && dense > ram / 10 * 8) {
    return api_error{api_errc::bad_argument,
                     "the dense tables need " + std::to_string(dense >> 20) +
                         " MiB with their optimizer state, more than 80% of this machine's " +
                         std::to_string(ram >> 20) + " MiB"};
  }
  return out;
}

std::vector<shard_table> tables_of_shard(const std::vector<table_spec>& specs, std::uint32_t k,
                                         std::uint32_t shards) {
  std::vector<shard_table> out;
  for (const auto& s : specs) {
    key_range range;
    if (s.kind == table_kind::dense) range = partition_range(s.size, shards)[k];
    out.push_back({s, range, shards});
  }
  return out;
}

}  // namespace

// The engines alive in this process. One held in a static ends after main,
// when spdlog's statics may already be gone while its actors still log (a
// listening engine in a global segfaulted at exit, in every run while remote
// clients came and went; OpenSSL's exit hook had run while it still checked
// logins). An exit hook, registered once both are up (hooks and statics go
// in the reverse order of their making), stops the engines first and lets
// their actors settle. Never destroyed: engines end after the hook.
class live_engines {
 public:
  static live_engines& instance() {
    static live_engines* made = [] {
      // spdlog's registry and OpenSSL's exit hook first: they outlive ours.
      spdlog::default_logger();
      OPENSSL_init_ssl(0, nullptr);
      auto* p = std::make_unique<live_engines>().release();  // NOLINT: lives for good
      std::atexit([] { instance().stop_all(); });
      return p;
    }();
    return *made;
  }
  /// Stops the engine at exit, returning its runtime (released outside the
  /// lock: its end waits for its actors, and one may be ending an engine).
  using stopper = std::function<std::shared_ptr<actor_runtime>()>;
  void add(const void* id, stopper stop_at_exit) {
    std::lock_guard<std::mutex> lock(mutex_);
    live_.emplace(id, std::move(stop_at_exit));
  }
  void remove(const void* id) {
    std::lock_guard<std::mutex> lock(mutex_);
    live_.erase(id);
  }

 private:
  void stop_all() {
    std::vector<std::shared_ptr<actor_runtime>> kept;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto& [id, stop] : live_) kept.push_back(stop());
    }
    kept.clear();
  }
  std::mutex mutex_;
  std::map<const void*, stopper> live_;
};

// Waits until the actors of `sys` stop ending (at most 1 s): what an
// engine's end sets off (sessions ending, their log lines) is done before
// the process's statics go.
void settle(caf::actor_system& sys) {
  using namespace std::chrono;
  const auto until = steady_clock::now() + seconds(1);
  auto last = sys.registry().running();
  auto quiet_since = steady_clock::now();
  while (steady_clock::now() < until && steady_clock::now() - quiet_since < milliseconds(50)) {
    std::this_thread::sleep_for(milliseconds(5));
    const auto now = sys.registry().running();
    if (now != last) {
      last = now;
      quiet_since = steady_clock::now();
    }
  }
}

class engine::impl {
 public:
  impl() = default;
  ~impl() { live_engines::instance().remove(this); }
  // Once the engine is complete (start() may fail, or be under way, when
  // the process exits).
  void stop_at_exit() {
    live_engines::instance().add(this, [this] {
      std::shared_ptr<actor_runtime> kept;
      {
        std::lock_guard<std::mutex> lock(mutex);
        kept = rt;
      }
      stop();
      if (kept) settle(kept->sys);
      return kept;
    });
  }
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  std::shared_ptr<actor_runtime> rt;
  std::vector<shard_actor> shards;
  node_actor node;
  directory_actor directory;
  std::shared_ptr<peer_guard> guard;
  std::unique_ptr<guarded_listener> listener;
  std::string address;
  bool stopped = false;
  // stop(), client() and address() may come from several threads at once
  // (a service's shutdown path beside its request threads).
  mutable std::mutex mutex;

  void stop() {
    const user_thread_call call;
    std::lock_guard<std::mutex> lock(mutex);
    if (stopped || !rt) return;
    stopped = true;
    listener.reset();  // unpublished
    {
      // A node obeys exits from local actors only (an anonymous one is refused).
      caf::scoped_actor self{rt->sys};
      for (const auto& s : shards) self->send_exit(s, caf::exit_reason::user_shutdown);
      // Null when start() failed before spawning them.
      if (directory) self->send_exit(directory, caf::exit_reason::user_shutdown);
      if (node) self->send_exit(node, caf::exit_reason::kill);  // quietly: it hosts nothing
    }
    rt.reset();  // the system ends with the last client that still holds it
  }

  // Publishes the directory at opts.listen; an error when it cannot.
  result<void> listen(const engine_options& opts) {
    std::pair<std::string, std::uint16_t> hp;
    try {
      hp = parse_address(opts.listen, true);
    } catch (const troupe_error& e) {
      return {api_errc::bad_argument, e.what()};
    }
    // Hostile bytes before the handshake are screened (actors/frame_guard.hpp).
    listen_options lopts;
    lopts.guard.name = "engine";
    // A link slow enough to need a long peer timeout needs as long to log in.
    lopts.guard.auth_deadline = handshake_deadline(opts.peer_timeout);
    lopts.guard.peers = guard;
    lopts.tls = opts.tls.enabled();
    try {
      listener = guarded_listener::publish(rt->sys, directory, hp.first, hp.second, lopts);
    } catch (const troupe_error& e) {
      return {api_errc::unreachable, e.what()};
    }
    address = hp.first + ":" + std::to_string(listener->port());
    return {};
  }
};

engine::engine(std::unique_ptr<impl> p) : impl_(std::move(p)) {
  if (impl_) impl_->stop_at_exit();
}
engine::engine(engine&&) noexcept = default;
engine& engine::operator=(engine&& other) noexcept {
  if (this == &other) return *this;  // self-assigned, it stopped itself
  if (impl_) {
    // The engine it was ends as a destroyed one does.
    impl_->stop();
    if (!callback_scope::active()) client_reaper::wait_if_made();
  }
  impl_ = std::move(other.impl_);
  return *this;
}
engine::~engine() {
  stop();
  // Its in-process clients ended in their callbacks end on the reaper's
  // thread: done before the engine goes (and the program, perhaps), so that
  // no teardown runs into the process's exit. From a callback it cannot
  // wait (the teardown may wait for that callback's thread).
  if (!callback_scope::active()) client_reaper::wait_if_made();
}

void engine::stop() {
  if (impl_) impl_->stop();
}

std::string engine::address() const {
  if (!impl_) return {};
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->address;
}

result<engine> engine::start(engine_options opts) {
  opts.secret = trim_secret(std::move(opts.secret));
  const user_thread_call call;
  auto specs = to_specs(opts);
  if (!specs) return specs.error();
  if (opts.threads > 1024) {
    return {api_errc::bad_argument,
            "engine_options::threads = " + std::to_string(opts.threads) + ": at most 1024"};
  }
  if (auto why = check_peer_timeout(opts.peer_timeout); !why.empty()) {
    return {api_errc::bad_argument, "engine_options::" + why};
  }
  const bool remote = !opts.listen.empty();
  const bool tls = remote && opts.tls.enabled();
  if (remote && !(tls && opts.secret.empty()) && opts.secret.size() < min_secret_bytes) {
    return {api_errc::bad_argument, "listening needs a secret of at least " +
                                        std::to_string(min_secret_bytes) + " bytes, or TLS"};
  }
  auto p = std::make_unique<impl>();
  try {
    // Clients refuse a certificate that may not serve ("unsupported
    // certificate", read by them as a CA mismatch): refused here instead.
    p->rt = std::make_shared<actor_runtime>(opts.threads, tls ? opts.tls : tls_options{},
                                            opts.peer_timeout, tls_role::serves);
  } catch (const troupe_error& e) {
    return {api_errc::bad_argument, e.what()};
  }
  auto& sys = p->rt->sys;
  auto guard = std::make_shared<peer_guard>(sys.node());
  // TLS alone: every peer that got through the handshake holds a certificate.
  if (tls && opts.secret.empty()) guard->trust_every_peer();
  p->guard = guard;
  host_context ctx;
  if (remote) ctx.guard = guard;  // in-process only: nobody else can reach the shards
  for (std::uint32_t k = 0; k < opts.shards; ++k) {
    p->shards.push_back(spawn_shard(
        sys, k, tables_of_shard(*specs, k, opts.shards), ctx,
        remote && opts.shards_on_network_thread ? shard_thread::io : shard_thread::scheduler));
  }
  // The shards allocate their tables as they start: start() answers once
  // they have. A table past a memory limit the machine's size does not show
  // (ulimit, a cgroup) ended its shard after start() had said ok, and every
  // call to it failed with peer_lost.
  caf::error failed;
  {
    caf::scoped_actor self{sys};
    for (const auto& shard : p->shards) {
      self->monitor(shard);
      self->request(shard, caf::infinite, stats_atom::value)
          .receive([](const shard_stats&) {}, [&](caf::error& err) { failed = std::move(err); });
      if (!failed) {
        self->demonitor(shard.address());
        continue;
      }
      self->receive([&](caf::down_msg& dm) { failed = dm.reason ? dm.reason : failed; },
                    caf::after(std::chrono::seconds(1)) >> [] {});
      break;
    }
  }  // before stop(): the system it ends waits for every actor, this one too
  if (failed) {
    p->stop();
    return {api_errc::internal, "engine: " + describe(failed)};
  }
  node_options nopts;
  nopts.name = "engine";
  // Without a secret nobody can pass the handshake: a random one.
  nopts.secret = remote && !opts.secret.empty() ? opts.secret : make_nonce();
  nopts.slots = 0;
  nopts.guard = guard;
  p->node = spawn_node(sys, std::move(nopts));
  directory_info info;
  info.tables = std::move(specs).value();
  info.shards = p->shards;
  p->directory = spawn_table_directory(sys, std::move(info), p->node, ctx.guard);
  if (remote) {
    if (auto r = p->listen(opts); !r) {
      p->stop();
      return r.error();
    }
    // The peer timeout must match the clients' (each side drops a peer that
    // heartbeats less often than its own timeout): logged, to find a mismatch.
    spdlog::info("engine: {} shards, {} tables, listening on {}, peer timeout {} ms", opts.shards,
                 opts.tables.size(), p->address, opts.peer_timeout.count());
  }
  return engine{std::move(p)};
}

result<client> engine::client(client_options options) const {
  const user_thread_call call;
  if (!impl_) return {api_errc::stopped, "the engine was moved from"};
  std::shared_ptr<actor_runtime> rt;
  directory_actor directory;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (impl_->stopped) return {api_errc::stopped, "the engine was stopped"};
    rt = impl_->rt;
    directory = impl_->directory;
  }
  auto c = open_client(std::move(rt), directory, options, nullptr);
  // A stop() while the client asked for the table directory ends the
  // directory under it: that is `stopped`, not the timeout or lost peer it
  // looks like from here.
  if (!c) {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (impl_->stopped) return {api_errc::stopped, "the engine was stopped"};
  }
  return c;
}

}  // namespace troupe
