#pragma once
// The actor system behind a service engine or a remote client
// (include/troupe/{engine,client}.hpp): Troupe's actor configuration plus
// the directory's message types, owned together so that the configuration
// outlives the system. Shared (shared_ptr) by an engine and its in-process
// clients: the system ends when the last of them lets go.
//
//   auto rt = std::make_shared<troupe::actor_runtime>(0);
//   auto shard = troupe::spawn_shard(rt->sys, 0, tables);

#include <caf/actor_system.hpp>

#include <chrono>
#include <string>

#include "actors/actor_config.hpp"
#include "engine/tls_files.hpp"
#include "troupe/result.hpp"
#include "troupe/tls.hpp"

namespace troupe {

class service_config : public actor_config {
 public:
  /// With TLS files, the system speaks TLS (enable_tls); throws
  /// troupe_error when they are unusable (for `role`: an engine that
  /// listens needs a certificate that may serve).
  explicit service_config(std::size_t threads, const tls_options& tls = {},
                          std::chrono::milliseconds peer_timeout = default_peer_timeout,
                          tls_role role = tls_role::connects);
};

struct actor_runtime {
  explicit actor_runtime(std::size_t threads, const tls_options& tls = {},
                         std::chrono::milliseconds peer_timeout = default_peer_timeout,
                         tls_role role = tls_role::connects)
      : cfg(threads, tls, peer_timeout, role), sys(cfg) {}
  service_config cfg;
  caf::actor_system sys;
};

/// Ends a public call made on a user's thread. CAF 0.17 keeps a reference to
/// the actor system's logger in a thread_local of every thread that creates
/// the system, spawns an actor or makes a scoped_actor, and ~actor_system
/// waits until every such reference is gone: a system ended on one thread
/// (the last client let go there) while another thread that once used it
/// lives on (the one that started the engine, say) would wait for good.
/// Every public entry point that does one of these holds one of these.
struct user_thread_call {
  user_thread_call() = default;
  user_thread_call(const user_thread_call&) = delete;
  user_thread_call& operator=(const user_thread_call&) = delete;
  ~user_thread_call();
};

/// "peer_timeout of N ms: ..." when `t` lies outside [1 s, 600 s], else "".
std::string check_peer_timeout(std::chrono::milliseconds t);

/// The public error for a CAF error (a shard's "troupe" error, a timeout, a
/// lost link, ...); `context` ("table 'emb', shard 1") prefixes the message.
api_error to_api_error(const caf::error& err, const std::string& context);

}  // namespace troupe
