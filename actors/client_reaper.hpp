#pragma once
// Ends the clients destroyed in a completion callback
// (include/troupe/client.hpp). There, ending one would wait for its
// session, which may be running that very callback, and a remote client's
// actor system would end on one of its own threads and wait for itself for
// good. The reaper ends them on a thread of its own, one after another, once
// the callback (and a call that ran it before returning) let go; the
// process waits for it when it exits, so that no teardown outlives main.
//
//   client_reaper::instance().retire(std::move(impl));   // from a callback

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "troupe/client.hpp"

namespace troupe {

class client_reaper {
 public:
  /// The process's one reaper: a function-local static, made on first use
  /// (so destroyed before the libraries' statics it relies on).
  static client_reaper& instance();

  client_reaper() = default;
  client_reaper(const client_reaper&) = delete;
  client_reaper& operator=(const client_reaper&) = delete;
  /// Ends what is still queued, then the thread.
  ~client_reaper();

  /// Ends `p` on the reaper's thread once nobody else holds it.
  void retire(std::shared_ptr<client::impl> p);

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<client::impl>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace troupe
