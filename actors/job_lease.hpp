#pragma once
// Jobs on a node daemon: every actor a node hosts belongs to the scheduler
// that asked for it (the lease's owner), and the node keeps it only while
// that scheduler lives and renews its lease.
//
//   scheduler (+ its lease keeper)          node
//    |-- reserve(n) ----------------------->|  n slots set aside for the job (opens
//    |                                      |    its lease, monitors the owner)
//    |-- spawn(...) ----------------------->|  opens the owner's lease (or adds to it,
//    |                                      |    taking a reserved slot), monitors the owner
//    |-- lease(owner) every second -------->|  renewed; answered true (false: no lease)
//    |   owner down (job ended, failed,     |  every actor of the job told to exit; its
//    |   process killed or hung) ---------->|    slots free once they are gone
//    |   no renewal for the lease timeout ->|  the same (a lost down message, a partition)
//
// A lease keeper runs next to each scheduler that places actors on nodes; it
// renews the scheduler's leases on every node and ends with the scheduler.
//
//   job_leases leases{std::chrono::seconds(10)};
//   if (leases.add(owner, actor, now)) self->monitor(owner_handle);
//   for (auto& gone : leases.expire(now)) release(gone.actors);

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/fwd.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "actors/node.hpp"

namespace troupe {

/// How often a lease keeper renews; a node's lease timeout must be a few
/// times longer (troupe node refuses less than `min_lease_timeout`).
inline constexpr std::chrono::milliseconds lease_renew_interval{1000};
inline constexpr std::chrono::milliseconds min_lease_timeout{3000};

/// The node side: which owner holds which hosted actors, and when each
/// owner last renewed. Plain bookkeeping; the node actor does the messaging.
class job_leases {
 public:
  using clock = std::chrono::steady_clock;

  struct ended {
    caf::actor_addr owner;
    std::vector<caf::actor_addr> actors;
  };

  explicit job_leases(std::chrono::milliseconds timeout) : timeout_(timeout) {}

  /// `actor` now belongs to `owner`'s job, and takes one of the slots it set
  /// aside, if any; true when that opened the lease (the caller then
  /// monitors the owner).
  bool add(const caf::actor_addr& owner, const caf::actor_addr& actor, clock::time_point now);
  /// Sets `slots` aside for `owner`'s job before it places its actors
  /// (replacing what it had; 0 gives them back), so that jobs placed side by
  /// side do not each get part of what they need. Renewed, lapsing and ended
  /// with the lease, which a reservation opens: true when it did.
  bool reserve(const caf::actor_addr& owner, std::uint32_t slots, clock::time_point now);
  /// Slots set aside for jobs other than `except`'s (all when none is named).
  std::size_t reserved(const caf::actor_addr& except = {}) const;
  /// Renews `owner`'s lease; false (nothing renewed) when it holds none
  /// (never had one, or it ended or expired). A lease whose actors all ended
  /// stays: its scheduler may place more.
  bool renew(const caf::actor_addr& owner, clock::time_point now);
  /// `actor` ended by itself: it no longer counts for its lease.
  void remove(const caf::actor_addr& actor);
  /// Ends `owner`'s lease (its scheduler is gone); the actors it still held.
  /// Empty when `owner` held no lease.
  ended end(const caf::actor_addr& owner);
  /// Ends every lease not renewed within the timeout.
  std::vector<ended> expire(clock::time_point now);

  bool holds(const caf::actor_addr& owner) const { return leases_.count(owner) > 0; }
  std::size_t jobs() const { return leases_.size(); }
  std::chrono::milliseconds timeout() const { return timeout_; }

 private:
  struct lease {
    clock::time_point renewed;
    std::set<caf::actor_addr> actors;
    std::uint32_t reserved = 0;  // slots set aside, not yet taken
  };
  std::chrono::milliseconds timeout_;
  std::map<caf::actor_addr, lease> leases_;
  std::map<caf::actor_addr, caf::actor_addr> owner_;  // actor -> owner
};

/// Renews `owner`'s leases on `nodes` every `interval` until `owner` ends
/// (it monitors it), and logs a node that answers it no longer holds one.
caf::actor spawn_lease_keeper(caf::actor_system& sys, std::vector<node_actor> nodes,
                              caf::actor owner,
                              std::chrono::milliseconds interval = lease_renew_interval);

}  // namespace troupe
