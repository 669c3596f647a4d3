#pragma once
// A bound on the requests one actor has in flight. CAF 0.17 keeps an actor's
// pending `request(...).then(...)` handlers in a flat map it searches
// linearly for every response, so an actor with n requests out pays O(n) per
// answer: a worker of a model with 8,000 small tables (a push and a pull per
// table and step) spent most of its time there, and setting up 20,000
// tables took ~50 s. The gate lets at most `limit` requests out at once and
// queues further new ones, in order, until answers make room.
//
//   request_gate gate(256);
//   gate.submit([&] { auto t = gate.sent(shard); send(..., t); return true; });  // now or later
//   ... every answer or error of the request: gate.answered(t);
//   ... a shard's primary replaced: gate.forget(shard), then send again
//
// Requests that must not wait (resends, repeats of a refused pull) call
// sent() directly; a submitted send that finds itself superseded when its
// turn comes returns false and takes no room. Order: while anything waits,
// new sends queue behind it, so sends to one shard keep their order.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <utility>
#include <vector>

namespace troupe {

class request_gate {
 public:
  /// What a request was counted under: the shard, and that shard's
  /// generation at the time (see forget).
  struct ticket {
    std::uint32_t shard = 0;
    std::uint64_t generation = 0;
  };

  explicit request_gate(std::size_t limit) : limit_(limit == 0 ? 1 : limit) {}

  /// Runs `send` now when there is room and nothing waits, else queues it.
  /// `send` returns whether it sent a request (and called sent()).
  void submit(std::function<bool()> send) {
    if (waiting_.empty() && in_flight_ < limit_) {
      send();
    } else {
      waiting_.push_back(std::move(send));
    }
  }

  /// A request to `shard` went out; its answer (or error) gives the ticket back.
  ticket sent(std::uint32_t shard) {
    if (shard >= shards_.size()) shards_.resize(shard + 1);
    ++shards_[shard].in_flight;
    ++in_flight_;
    return {shard, shards_[shard].generation};
  }

  /// A request was answered (or failed): queued sends go while there is
  /// room. A ticket from before forget(shard) counts no more.
  void answered(const ticket& t) {
    if (t.shard < shards_.size() && shards_[t.shard].generation == t.generation &&
        shards_[t.shard].in_flight > 0) {
      --shards_[t.shard].in_flight;
      --in_flight_;
    }
    drain();
  }

  /// The requests out to `shard` will never all be answered (CAF 0.17 drops
  /// those a lost node or a replaced primary held, without an error): they
  /// stop counting, and answers that still come for them are ignored. The
  /// caller sends again what it needs, then calls drain(): what waits here
  /// is newer, and must not overtake those resends.
  void forget(std::uint32_t shard) {
    if (shard >= shards_.size()) return;
    in_flight_ -= shards_[shard].in_flight;
    shards_[shard].in_flight = 0;
    ++shards_[shard].generation;
  }

  /// Sends what waits while there is room.
  void drain() {
    while (!waiting_.empty() && in_flight_ < limit_) {
      auto next = std::move(waiting_.front());
      waiting_.pop_front();
      next();
    }
  }

  std::size_t in_flight() const { return in_flight_; }
  std::size_t waiting() const { return waiting_.size(); }

 private:
  struct per_shard {
    std::size_t in_flight = 0;
    std::uint64_t generation = 0;
  };

  std::size_t limit_;
  std::size_t in_flight_ = 0;
  std::vector<per_shard> shards_;
  std::deque<std::function<bool()>> waiting_;
};

}  // namespace troupe
