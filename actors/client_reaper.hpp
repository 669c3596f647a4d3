#pragma once
// Ends the clients destroyed in a completion callback
// (include/troupe/client.hpp). There, ending one would wait for its
// session, which may be running that very callback, and a remote client's
// actor system would end on one of its own threads and wait for itself for
// good. The reaper ends them on a thread of its own, one after another, once
// the callback (and a call that ran it before returning) let go; the
// process waits for it when it exits (an atexit hook), so that no teardown
// outlives main. The reaper itself is never destroyed: engines and clients
// held in statics end after that hook, and their callbacks may still come
// here (they are then kept, not ended: the process is ending anyway).
//
//   client_reaper::instance().retire(std::move(impl));   // from a callback

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "actors/service_runtime.hpp"
#include "troupe/client.hpp"

namespace troupe {

class client_reaper {
 public:
  /// The process's one reaper, made on first use.
  static client_reaper& instance();

  client_reaper() = default;
  client_reaper(const client_reaper&) = delete;
  client_reaper& operator=(const client_reaper&) = delete;

  /// Ends `p` on the reaper's thread once nobody else holds it.
  void retire(std::shared_ptr<client::impl> p);
  /// Ends what is queued, then the thread; later retirements are kept.
  /// Called at exit: the clients' actor systems are kept rather than ended
  /// there (the libraries' statics may be gone by then).
  void drain();
  /// Until every client retired so far has ended (an engine waits for its
  /// in-process clients before it goes). Not from a completion callback.
  void wait_idle();
  /// wait_idle() on the reaper if one was made; else nothing to wait for.
  static void wait_if_made();
  /// Called as each client is made: from then on, a client retired while
  /// the process exits (a callback that called exit() with the client in a
  /// static) is kept, not ended. Ending it there waited 10 s for a session
  /// whose actor system the exit had stopped, then logged through an spdlog
  /// already destroyed: SIGSEGV.
  static void note_client();

 private:
  void run();
  static void keep_for_good(std::shared_ptr<client::impl> p);
  static void keep_runtime_for_good(std::shared_ptr<actor_runtime> rt);

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<std::shared_ptr<client::impl>> queue_;
  bool busy_ = false;  // a teardown is under way
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace troupe
