#pragma once
// A data-parallel worker's pushes of the last few steps, kept until their
// shards acknowledge them. The worker does not wait for acknowledgements
// before its next step (the staleness bound decides that); this window
// bounds how many steps may be unacknowledged, remembers which step each
// push belongs to (a step is complete when all its pushes are applied), and
// resends a shard's unacknowledged pushes with their original seq after a
// failover (the shard acknowledges a seq it already applied without
// applying it again).
//
// A push is acknowledged twice when its shard has a backup: once applied
// by the primary (`applied`, an early notice that completes it for the
// step's count), then by the reply once the backup holds it too, which is
// when the window lets it go. Without a backup the reply is both.
//
//   window.add(step, shard, seq, caf::make_message(push_atom::value, std::move(msg)));
//   window.send_new(self, shards, ctx, on_ack, on_error);   // what was added
//   ... on_ack(step, shard, reply, first): window.oldest_step() tells what completed
//   ... applied notice: if (window.applied(shard, seq)) on_ack(..., true)
//   ... repoint(k): window.resend(self, shards, ctx, k, on_ack, on_error);
//   ... on_error(shard, id, err): window.resend_one(self, shards, ctx, id, on_ack, on_error);
//
// New pushes go out through the worker's request_gate (set_gate), which
// bounds its requests in flight; resends go at once (they are older than
// anything queued there, so each shard still gets its pushes in order).
//
// Requests carry no timeout (a timer per request woke CAF's timer thread
// tens of thousands of times a second); the worker's watchdog checks
// oldest_sent() once a second instead.

#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <utility>

#include "actors/host_context.hpp"
#include "actors/metrics_exporter.hpp"
#include "actors/protocol.hpp"
#include "actors/request_gate.hpp"
#include "actors/shared_transport.hpp"

namespace troupe {

class push_window {
 public:
  using clock_type = std::chrono::steady_clock;
  static constexpr std::int64_t none = std::numeric_limits<std::int64_t>::max();

  /// Where requests are counted and new pushes wait for room (the worker's
  /// gate outlives the window's requests, as the window does).
  void set_gate(request_gate* gate) { gate_ = gate; }

  /// `seq` 0: the push cannot be told apart by seq; only its reply counts.
  void add(std::int64_t step, std::uint32_t shard, std::uint64_t seq, caf::message push) {
    if (seq != 0) by_seq_[{shard, seq}] = next_id_;
    entries_.emplace(next_id_++, entry{step, shard, seq, std::move(push), {}, 0, false});
    ++per_step_[step];
    ++held_per_step_[step];
  }

  std::size_t unacked() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  /// The oldest step with a push not yet applied; `none` when all are.
  std::int64_t oldest_step() const { return per_step_.empty() ? none : per_step_.begin()->first; }
  /// Steps with pushes not yet applied.
  std::size_t steps() const { return per_step_.size(); }
  /// Steps with pushes kept for a resend (applied or not, not yet in a backup).
  std::size_t held_steps() const { return held_per_step_.size(); }

  /// The early notice that shard `shard` applied push `seq`: true the first
  /// time it completes that push for its step (the caller counts it then).
  bool applied(std::uint32_t shard, std::uint64_t seq) {
    if (seq == 0) return false;
    const auto found = by_seq_.find({shard, seq});
    if (found == by_seq_.end()) return false;  // its reply came first
    auto& e = entries_.at(found->second);
    if (e.applied || e.sends == 0) return false;
    e.applied = true;
    count_applied(e.step);
    return true;
  }
  /// When the oldest unacknowledged push was (last) sent; max() when none.
  clock_type::time_point oldest_sent() const {
    auto t = clock_type::time_point::max();
    for (const auto& [id, e] : entries_) {
      if (e.sends > 0) t = std::min(t, e.sent_at);
    }
    return t;
  }

  /// Sends the pushes added since the last call.
  template <class Self, class OnAck, class OnError>
  void send_new(Self* self, const std::vector<shard_actor>& shards, const host_context& ctx,
                OnAck on_ack, OnError on_error) {
    for (auto it = entries_.lower_bound(first_unsent_); it != entries_.end(); ++it) {
      const auto id = it->first;
      if (gate_ == nullptr) {
        send_one(self, shards, ctx, id, on_ack, on_error);
        continue;
      }
      // Sent when its turn comes, to the shard's primary of that moment,
      // unless a resend (a failover) sent it first or it is gone.
      // `shards` and `ctx` are the worker's own (its state): read when the
      // push goes, as a failover or a switch to the socket left them.
      gate_->submit([this, self, shards = &shards, ctx = &ctx, id, on_ack, on_error] {
        const auto e = entries_.find(id);
        if (e == entries_.end() || e->second.sends > 0) return false;
        send_one(self, *shards, *ctx, id, on_ack, on_error);
        return true;
      });
    }
    first_unsent_ = next_id_;
  }

  /// Resends every unacknowledged push to `shard` (its primary changed);
  /// returns how many. `sequenced_only`: not those with seq 0, which the
  /// shard may have applied and would apply again (it cannot tell a retry).
  template <class Self, class OnAck, class OnError>
  std::size_t resend(Self* self, const std::vector<shard_actor>& shards, const host_context& ctx,
                     std::uint32_t shard, OnAck on_ack, OnError on_error,
                     bool sequenced_only = false) {
    std::size_t n = 0;
    for (auto& [id, e] : entries_) {
      if (e.shard != shard || e.sends == 0 || (sequenced_only && e.seq == 0)) continue;
      send_one(self, shards, ctx, id, on_ack, on_error);
      ++n;
    }
    return n;
  }

  /// Resends push `id` (it was refused, so not applied); false when it is gone.
  template <class Self, class OnAck, class OnError>
  bool resend_one(Self* self, const std::vector<shard_actor>& shards, const host_context& ctx,
                  std::uint64_t id, OnAck on_ack, OnError on_error) {
    if (entries_.count(id) == 0) return false;
    send_one(self, shards, ctx, id, on_ack, on_error);
    return true;
  }

  /// The seq of push `id` (0: none, or it is gone).
  std::uint64_t seq_of(std::uint64_t id) const {
    const auto it = entries_.find(id);
    return it == entries_.end() ? 0 : it->second.seq;
  }

 private:
  struct entry {
    std::int64_t step;
    std::uint32_t shard;
    std::uint64_t seq;
    caf::message message;
    clock_type::time_point sent_at;
    std::uint32_t sends;  // an error answering an earlier send is stale
    bool applied;         // counted for its step already (the early notice)
  };

  void count_applied(std::int64_t step) {
    if (--per_step_[step] == 0) per_step_.erase(step);
  }

  template <class Self, class OnAck, class OnError>
  void send_one(Self* self, const std::vector<shard_actor>& shards, const host_context& ctx,
                std::uint64_t id, OnAck on_ack, OnError on_error) {
    auto& e = entries_.at(id);
    const auto generation = ++e.sends;
    e.sent_at = clock_type::now();
    const auto counted = count_inflight(ctx.metrics);
    auto* gate = gate_;
    const auto ticket = gate ? gate->sent(e.shard) : request_gate::ticket{};
    // `this` lives in the actor's state, which outlives its pending requests.
    // The window keeps the bytes (for resends); a shard in another process
    // on this host gets a copy through shared memory.
    self->request(caf::actor_cast<caf::actor>(shards[e.shard]), caf::infinite,
                  for_destination(ctx, self->node(), shards[e.shard].node(), e.message))
        .then(
            [=, counted = counted](const bytes& reply) {
              if (gate) gate->answered(ticket);
              // Any send's acknowledgement counts: the shard applied it once.
              auto it = entries_.find(id);
              if (it == entries_.end()) return;  // a resend's twin was acknowledged first
              const auto step = it->second.step;
              const auto shard = it->second.shard;
              const bool first = !it->second.applied;
              if (it->second.seq != 0) by_seq_.erase({shard, it->second.seq});
              entries_.erase(it);
              if (first) count_applied(step);
              if (--held_per_step_[step] == 0) held_per_step_.erase(step);
              on_ack(step, shard, reply, first);
            },
            [=, counted = counted](caf::error& err) {
              if (gate) gate->answered(ticket);
              auto it = entries_.find(id);
              if (it == entries_.end() || it->second.sends != generation) return;
              on_error(it->second.shard, id, err);
            });
  }

  std::map<std::uint64_t, entry> entries_;
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::uint64_t> by_seq_;  // (shard, seq) -> id
  request_gate* gate_ = nullptr;
  std::map<std::int64_t, std::size_t> per_step_;       // pushes not yet applied, per step
  std::map<std::int64_t, std::size_t> held_per_step_;  // pushes kept, per step
  std::uint64_t next_id_ = 0;
  std::uint64_t first_unsent_ = 0;
};

}  // namespace troupe
