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
//   gate.submit([&] { send(...); gate.sent(); return true; });  // now or later
//   ... every request sent: gate.sent(); every answer or error: gate.answered();
//
// Requests that must not wait (resends, repeats of a refused pull) call
// sent() directly; a submitted send that finds itself superseded when its
// turn comes returns false and takes no room. Order: while anything waits,
// new sends queue behind it, so sends to one shard keep their order.

#include <cstddef>
#include <deque>
#include <functional>
#include <utility>

namespace troupe {

class request_gate {
 public:
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

  /// A request went out.
  void sent() { ++in_flight_; }

  /// A request was answered (or failed): queued sends go while there is room.
  void answered() {
    if (in_flight_ > 0) --in_flight_;
    while (!waiting_.empty() && in_flight_ < limit_) {
      auto next = std::move(waiting_.front());
      waiting_.pop_front();
      next();
    }
  }

  std::size_t in_flight() const { return in_flight_; }
  std::size_t waiting() const { return waiting_.size(); }

 private:
  std::size_t limit_;
  std::size_t in_flight_ = 0;
  std::deque<std::function<bool()>> waiting_;
};

}  // namespace troupe
