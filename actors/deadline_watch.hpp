#pragma once
// Ends client calls at their deadline on a thread of its own. A client's
// session enforces deadlines too, but it is an actor: in an engine's own
// process it shares the scheduler's threads with the shards, and while they
// apply a large push it is not scheduled. A 20 ms lookup then failed after
// 0.4-0.6 s on one thread (0.87 s with two under a 500k-row push). The
// watch is a plain thread, so the caller hears `timeout` when it is due;
// the session still cleans up the request when it runs, and whichever ends
// the call first wins (call::expire, call::complete).
//
//   deadline_watch watch;
//   watch.add(c->started + timeout, c);   // c: std::shared_ptr<call<T>>
//   ...                                   // c completes, or at its deadline
//                                         // c->expire() runs on the watch's thread
//   watch.stop();                         // joins; nothing expires after it
//
// Deadlines arrive in about the order they fall (one client, one timeout,
// calls numbered by their start), so they wait in a queue, not a heap: one
// added a little out of order (its caller was preempted between starting
// the call and adding it) is ended when the one before it is, late by that
// gap. The queue holds weak references: calls that completed are dropped
// from its front as new ones come, and keep only their control block; when
// one call stays open (its shard is busy) while others complete around it,
// a sweep of the whole queue each time it has doubled keeps it at about the
// calls still open.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

namespace troupe {

/// What a deadline ends: called at most once, from the watch's thread.
class expirable {
 public:
  virtual ~expirable() = default;
  virtual void expire() = 0;
};

class deadline_watch {
 public:
  using clock = std::chrono::steady_clock;

  deadline_watch() = default;
  ~deadline_watch() { stop(); }
  deadline_watch(const deadline_watch&) = delete;
  deadline_watch& operator=(const deadline_watch&) = delete;

  /// `what` expires at `at` unless it is gone by then. The thread starts
  /// with the first deadline. After stop(): ignored.
  void add(clock::time_point at, std::weak_ptr<expirable> what);
  /// No expire() runs after it returns. Joins the thread, or from the
  /// thread itself (a callback that destroys its client) lets it end alone.
  void stop();
  /// Deadlines waiting (also of calls that completed, until they are dropped).
  std::size_t waiting() const;

 private:
  struct entry {
    clock::time_point at;
    std::weak_ptr<expirable> what;
  };
  // Shared with the thread, which may outlive this object (stop() from a
  // callback cannot join the thread it runs on).
  struct state {
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<entry> due;
    std::size_t swept_at = 0;          // the queue's size after the last sweep
    std::atomic<bool> stopped{false};  // read by the thread between callbacks, unlocked
  };
  static void run(const std::shared_ptr<state>& st);

  std::shared_ptr<state> state_ = std::make_shared<state>();
  std::thread thread_;
};

}  // namespace troupe
