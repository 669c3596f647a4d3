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
// from its front as new ones come, and keep only their control block.

#include <chrono>
#include <condition_variable>
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
  /// Joins the thread; no expire() runs after it returns. Not from expire().
  void stop();
  /// Deadlines waiting (also of calls that completed, until they are dropped).
  std::size_t waiting() const;

 private:
  struct entry {
    clock::time_point at;
    std::weak_ptr<expirable> what;
  };
  void run();

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<entry> due_;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace troupe
