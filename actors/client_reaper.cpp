#include "actors/client_reaper.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <system_error>

#include "actors/client_impl.hpp"

namespace troupe {

namespace {
// The reaper once made: engines wait for it without making one (made early,
// its exit hook would run after the statics made later are gone).
std::atomic<client_reaper*> made{nullptr};
// Set by an exit hook registered when the first client was made: after
// every static made before it (the clients and engines a program keeps in
// globals), so it runs before their destructors do.
std::atomic<bool> exiting{false};
}  // namespace

void client_reaper::note_client() {
  static const bool registered = [] {
    std::atexit([] { exiting.store(true); });
    return true;
  }();
  (void)registered;
}

client_reaper& client_reaper::instance() {
  // Never destroyed (see the header); made on first use, drained at exit.
  static client_reaper* reaper = [] {
    auto* r = std::make_unique<client_reaper>().release();  // NOLINT: lives for good
    std::atexit([] { instance().drain(); });
    made.store(r);
    return r;
  }();
  return *reaper;
}

void client_reaper::wait_if_made() {
  if (auto* r = made.load()) r->wait_idle();
}

void client_reaper::keep_for_good(std::shared_ptr<client::impl> p) {
  std::make_unique<std::shared_ptr<client::impl>>(std::move(p)).release();  // NOLINT: on purpose
}

void client_reaper::keep_runtime_for_good(std::shared_ptr<actor_runtime> rt) {
  std::make_unique<std::shared_ptr<actor_runtime>>(std::move(rt)).release();  // NOLINT: on purpose
}

void client_reaper::drain() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  idle_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void client_reaper::wait_idle() {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_.wait(lock, [&] { return stopping_ || (queue_.empty() && !busy_); });
}

void client_reaper::retire(std::shared_ptr<client::impl> p) {
  // exit() was called in a callback: its thread runs the statics'
  // destructors, and the process ends without the client's teardown.
  if (exiting.load()) return keep_for_good(std::move(p));
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return keep_for_good(std::move(p));  // the process is ending
  queue_.push_back(std::move(p));
  if (!thread_.joinable()) {
    try {
      thread_ = std::thread([this] { run(); });
    } catch (const std::system_error& e) {
      // No thread to be had: kept for good rather than ended here, in the
      // callback, where it would hang.
      spdlog::error("client: cannot end a client from its callback ({}); its connection stays open",
                    e.what());
      keep_for_good(std::move(queue_.back()));
      queue_.pop_back();
      return;
    }
  }
  wake_.notify_one();
}

void client_reaper::run() {
  for (;;) {
    std::shared_ptr<client::impl> p;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left
      p = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    // The callback that retired it, and a call that ran that callback
    // before returning (a refusal calls back at once), hold it a moment;
    // nothing holds it for long (wait() holds only the calls' bookkeeping).
    // Bounded all the same: past it, whoever holds it last ends it.
    const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (p.use_count() > 1 && std::chrono::steady_clock::now() < limit) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (p.use_count() > 1) {
      spdlog::warn(
          "client: a client ended in a callback is still in use after 30 s; the last "
          "user ends it");
    }
    // Its actor system (a remote client's own) ends after it, here, unless
    // the process is exiting: ~actor_system then could use statics of CAF
    // already destroyed (a segfault at exit, seen in CI).
    auto runtime = p->runtime();
    p.reset();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) keep_runtime_for_good(std::move(runtime));
      busy_ = false;
    }
    runtime.reset();
    idle_.notify_all();
  }
}

}  // namespace troupe
