#pragma once
// Bounds the last step of a daemon's shutdown. Armed, it ends the process
// with `code` (after logging why) unless it is destroyed within `limit`.
//
//   shutdown_watchdog watchdog;     // declared before the actor system: outlives it
//   caf::actor_system sys{cfg};
//   ... serve, drain ...
//   watchdog.arm("node n1", std::chrono::seconds(2), 0);
//   return 0;                       // ~actor_system runs, then ~shutdown_watchdog
//
// Why: CAF 0.17.6's ~actor_system waits, without a limit, until every detached
// actor (pipeline stages; data-parallel workers were detached too until they
// moved to the actor system's pool) has been destroyed, i.e. until its
// last strong reference is gone. A reference can outlive the shutdown when a
// detached actor ends while the system is already stopping (seen in gdb: the
// actor's thread in await_self_destroyed). Likeliest holder, from the 0.17.6
// sources: local_actor::cleanup() lowers the running-actor count (all that
// await_all_actors_done waits for) before it sends the actor's down messages,
// so the middleman's BASP broker (which monitors every actor a remote node
// knows) can be stopped with such a message, holding the actor as its
// sender, still in its mailbox.
// The node drains first (its hosted actors are gone before the system
// stops), which makes this rare; the watchdog makes it bounded.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace troupe::cli {

class shutdown_watchdog {
 public:
  shutdown_watchdog() = default;
  ~shutdown_watchdog();
  shutdown_watchdog(const shutdown_watchdog&) = delete;
  shutdown_watchdog& operator=(const shutdown_watchdog&) = delete;

  /// From now on, `what` must finish shutting down within `limit`, else the
  /// process logs it and exits with `code` at once (std::_Exit).
  void arm(std::string what, std::chrono::milliseconds limit, int code);

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  bool finished_ = false;
  std::thread thread_;
};

}  // namespace troupe::cli
