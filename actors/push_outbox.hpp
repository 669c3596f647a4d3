#pragma once
// The pushes of one step, kept until their shards acknowledge them, so that
// when a shard fails over they can be resent to its backup with the same seq
// (a shard acknowledges a seq it already applied without applying it again).
// Shared by data-parallel workers and pipeline stages.
//
//   st.outbox.start_step();                     // replies of older steps are ignored
//   st.outbox.add(shard, caf::make_message(push_atom::value, std::move(msg)));
//   st.outbox.send(self, st.shards, timeout, st.ctx, on_ack, on_error);
//   ... repoint(k, backup): st.shards[k] = backup; st.outbox.send(...) again
//
// on_ack(shard, reply) runs exactly once per push (the first reply wins, be
// it to the first send or to a resend); on_error(shard, err) for a push not
// yet acknowledged. CAF keeps a message's buffer shared: holding and
// resending a push copies no gradient.

#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "actors/host_context.hpp"
#include "actors/metrics_exporter.hpp"
#include "actors/protocol.hpp"
#include "engine/job_config.hpp"

namespace troupe {

class push_outbox {
 public:
  /// Forgets the previous step's pushes; their late replies are ignored.
  void start_step() {
    entries_.clear();
    unacked_ = 0;
    ++step_;
  }

  void add(std::uint32_t shard, caf::message push) {
    entries_.push_back({shard, std::move(push), false});
    ++unacked_;
  }

  std::size_t size() const { return entries_.size(); }
  std::size_t unacked() const { return unacked_; }

  /// (Re)sends every push not yet acknowledged; returns how many.
  template <class Self, class OnAck, class OnError>
  std::size_t send(Self* self, const std::vector<shard_actor>& shards,
                   std::chrono::milliseconds timeout, const host_context& ctx, OnAck on_ack,
                   OnError on_error) {
    const auto step = step_;
    const auto metrics = ctx.metrics;
    std::size_t sent = 0;
    for (std::size_t j = 0; j < entries_.size(); ++j) {
      if (entries_[j].acked) continue;
      ++sent;
      const auto counted = count_inflight(metrics);
      // `this` lives in the actor's state, which outlives its pending requests.
      self->request(caf::actor_cast<caf::actor>(shards[entries_[j].shard]), timeout,
                    entries_[j].message)
          .then(
              [=, counted = counted](const bytes& reply) {
                if (step_ != step || entries_[j].acked) return;
                entries_[j].acked = true;
                --unacked_;
                on_ack(entries_[j].shard, reply);
              },
              [=, counted = counted](caf::error& err) {
                if (step_ != step || entries_[j].acked) return;
                on_error(entries_[j].shard, err);
              });
    }
    return sent;
  }

 private:
  struct entry {
    std::uint32_t shard;
    caf::message message;
    bool acked;
  };
  std::vector<entry> entries_;
  std::size_t unacked_ = 0;
  std::uint64_t step_ = 0;
};

/// A caller's wait for the scheduler to re-point it at a lost shard's
/// backup (or restored copy), after a pull or push to the shard failed with
/// `err`. It waits only when the link was lost and the job can recover the
/// shard (replicas, or checkpoints on a cluster), and only for `limit` from
/// the first failure (workers and stages give their clock timeout, 600 s by
/// default: a restore from a checkpoint may take a while): a shard whose node the scheduler still
/// reaches (a link lost between two nodes only, or a route taken over) is never failed over, and
/// the job hung for good, its workers logging once a second. A refusal by the shard would be
/// refused again: no wait.
///
///   if (auto why = st.failover.why_not_wait(job, who, what, err, timeout); !why.empty())
///     fail(self, why, err);
///   ... re-pointed, or a reply came: st.failover.over();
class failover_wait {
 public:
  /// Empty: wait on (logged when the wait begins); else what to fail with.
  std::string why_not_wait(const job_config& job, const std::string& who, const std::string& what,
                           const caf::error& err, std::chrono::milliseconds limit);
  /// The shard answers again (re-pointed, or a reply came).
  void over() { since_ = std::chrono::steady_clock::time_point{}; }
  /// Whether a wait is under way (callers without a periodic tick arm one).
  bool waiting() const { return since_ != std::chrono::steady_clock::time_point{}; }

 private:
  std::chrono::steady_clock::time_point since_{};  // epoch: not waiting
};

}  // namespace troupe
