#include "actors/job_lease.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <memory>

#include "actors/actor_config.hpp"

namespace troupe {

bool job_leases::add(const caf::actor_addr& owner, const caf::actor_addr& actor,
                     clock::time_point now) {
  auto [it, opened] = leases_.try_emplace(owner);
  it->second.renewed = now;
  it->second.actors.insert(actor);
  if (it->second.reserved > 0) --it->second.reserved;
  owner_[actor] = owner;
  return opened;
}

bool job_leases::reserve(const caf::actor_addr& owner, std::uint32_t slots, clock::time_point now) {
  auto it = leases_.find(owner);
  if (it == leases_.end() && slots == 0) return false;
  const bool opened = it == leases_.end();
  if (opened) it = leases_.try_emplace(owner).first;
  it->second.renewed = now;
  it->second.reserved = slots;
  return opened;
}

std::size_t job_leases::reserved(const caf::actor_addr& except) const {
  std::size_t n = 0;
  for (const auto& [owner, l] : leases_) {
    if (owner != except) n += l.reserved;
  }
  return n;
}

bool job_leases::renew(const caf::actor_addr& owner, clock::time_point now) {
  auto it = leases_.find(owner);
  if (it == leases_.end()) return false;
  it->second.renewed = now;
  return true;
}

void job_leases::remove(const caf::actor_addr& actor) {
  auto it = owner_.find(actor);
  if (it == owner_.end()) return;
  if (auto l = leases_.find(it->second); l != leases_.end()) l->second.actors.erase(actor);
  owner_.erase(it);
}

job_leases::ended job_leases::end(const caf::actor_addr& owner) {
  ended out{owner, {}};
  auto it = leases_.find(owner);
  if (it == leases_.end()) return out;
  for (const auto& a : it->second.actors) {
    out.actors.push_back(a);
    owner_.erase(a);
  }
  leases_.erase(it);
  return out;
}

std::vector<job_leases::ended> job_leases::expire(clock::time_point now) {
  std::vector<caf::actor_addr> owners;
  for (const auto& [owner, l] : leases_) {
    if (now - l.renewed > timeout_) owners.push_back(owner);
  }
  std::vector<ended> out;
  for (const auto& owner : owners) out.push_back(end(owner));
  return out;
}

namespace {

using renew_atom = caf::atom_constant<caf::atom("renew")>;

struct keeper_state {
  std::vector<node_actor> nodes;
  std::vector<bool> held;  // per node: it answered with actors of this job
  caf::actor owner;
  std::chrono::milliseconds interval{1000};
  static inline const char* name = "troupe.lease_keeper";
};

caf::behavior keeper_behavior(caf::stateful_actor<keeper_state>* self,
                              std::vector<node_actor> nodes, caf::actor owner,
                              std::chrono::milliseconds interval) {
  auto& st = self->state;
  st.nodes = std::move(nodes);
  st.held.assign(st.nodes.size(), false);
  st.owner = std::move(owner);
  st.interval = interval;
  self->monitor(st.owner);
  // Ends with its scheduler: from then on the nodes let the leases lapse
  // (they noticed the scheduler's end already, unless that was lost).
  self->set_down_handler([=](caf::down_msg& dm) {
    if (dm.source == self->state.owner.address()) self->quit();
  });
  self->send(self, renew_atom::value);
  return {
      [=](renew_atom) {
        auto& s = self->state;
        for (std::size_t i = 0; i < s.nodes.size(); ++i) {
          // Answered within the interval or not at all: a lost node is the
          // scheduler's business, not the keeper's.
          self->request(s.nodes[i], s.interval, lease_atom::value, s.owner)
              .then(
                  [=](bool held) {
                    auto& k = self->state;
                    if (held) {
                      k.held[i] = true;
                    } else if (k.held[i]) {
                      k.held[i] = false;
                      spdlog::warn("node {} no longer holds a lease for this job",
                                   caf::to_string(k.nodes[i].node()));
                    }
                  },
                  [](caf::error&) {});
        }
        self->delayed_send(self, s.interval, renew_atom::value);
      },
  };
}

}  // namespace

caf::actor spawn_lease_keeper(caf::actor_system& sys, std::vector<node_actor> nodes,
                              caf::actor owner, std::chrono::milliseconds interval) {
  return sys.spawn(keeper_behavior, std::move(nodes), std::move(owner), interval);
}

}  // namespace troupe
