#pragma once
// Bookkeeping of client calls (include/troupe/client.hpp): a call split into
// one request per shard completes when its last part has answered, with the
// first error or the merged value, or at its deadline (deadline_watch); a
// tracker knows which calls are still open so that client::wait() can wait
// for them.
//
//   auto c = std::make_shared<call<rows>>(std::move(done), tracker);
//   c->parts_left = parts.size();
//   ...each part, on the session's thread: c->fail(err) or fill c->value; c->part_done();

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <variant>

#include "actors/deadline_watch.hpp"
#include "troupe/result.hpp"

namespace troupe {

/// Marks its thread as running a completion callback while it lives:
/// client::wait() there would wait for that callback, and a client ended
/// there must not wait for its session, which may be what runs it
/// (client_api.cpp). Nests: a callback may issue a call refused at once,
/// whose callback runs inside it.
class callback_scope {
 public:
  callback_scope() { ++depth(); }
  ~callback_scope() { --depth(); }
  callback_scope(const callback_scope&) = delete;
  callback_scope& operator=(const callback_scope&) = delete;
  static bool active() { return depth() > 0; }

 private:
  static int& depth() {
    thread_local int d = 0;
    return d;
  }
};

class call_tracker {
 public:
  std::uint64_t open() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_.insert(next_);
    return next_++;
  }
  void close(std::uint64_t ticket) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      open_.erase(ticket);
    }
    changed_.notify_all();
  }
  /// A call ended with `e` (before it closes: the wait() that waits for it
  /// reports it).
  void failed(const api_error& e) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (failures_.empty()) first_ = e;
    ++failures_[e.code];
  }
  /// Until every call opened before now is closed; then ok, or the first
  /// failure since the previous wait() returned, with how many failed.
  /// Pushes fired and forgotten must not fail unseen (an overloaded client
  /// refused 936 of 1,000 such pushes, and wait() said nothing).
  result<void> wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    const auto limit = next_;
    changed_.wait(lock, [&] { return open_.empty() || *open_.begin() >= limit; });
    if (failures_.empty()) return {};
    const auto failures = std::exchange(failures_, {});
    std::size_t total = 0;
    std::string counts;
    for (const auto& [code, n] : failures) {
      total += n;
      counts += (counts.empty() ? "" : ", ") + std::to_string(n) + " " + to_string(code);
    }
    if (total == 1) return first_;
    return {first_.code, std::to_string(total) + " calls failed since the last wait() (" + counts +
                             "); the first: " + first_.message};
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::set<std::uint64_t> open_;
  std::uint64_t next_ = 0;
  std::map<api_errc, std::size_t> failures_;
  api_error first_;
};

/// One call. Parts run on the session's thread only; the call completes
/// once: by its parts, refused at once, or expired by a deadline_watch on
/// its thread (then the parts still running change nothing the caller sees).
template <class T>
struct call final : expirable {
  using value_type = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

  /// `failures`: where a failure is told (wait() reads it), when not
  /// `tracker`, which knows the call is open (clock calls: not waited for).
  call(std::function<void(result<T>)> done, std::shared_ptr<call_tracker> tracker,
       std::shared_ptr<call_tracker> failures = nullptr)
      : done_(std::move(done)),
        tracker_(std::move(tracker)),
        failures_(failures ? std::move(failures) : tracker_),
        ticket_(tracker_->open()) {}
  call(const call&) = delete;
  call& operator=(const call&) = delete;
  /// A call dropped without completing (its parts were lost on the way)
  /// still answers and returns its ticket, or wait() would never return.
  ~call() override {
    if (completed_) return;
    fail({api_errc::internal, "the call was dropped before it completed"});
    complete();
  }

  value_type value{};
  std::size_t parts_left = 0;
  /// When the user made the call: its deadline counts from here, not from
  /// when its parts were built (splitting millions of ids takes a while).
  const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  /// Runs before a successful completion (e.g. copies duplicate rows).
  std::function<void(value_type&)> finalize;
  /// What expire() says: "lookup on table 'emb'", and the timeout. Set
  /// before the call is watched.
  std::string context;
  std::chrono::milliseconds timeout{0};

  void fail(api_error err) {
    if (!error_) error_ = std::move(err);
  }
  void part_done() {
    if (--parts_left == 0) complete();
  }
  /// Completes now: for calls refused before anything was sent, or empty ones.
  void complete() {
    if (completed_.exchange(true)) return;
    if (error_) return finish(result<T>(std::move(*error_)));
    try {
      if (finalize) finalize(value);
    } catch (const std::exception& e) {
      return finish(result<T>(api_error{api_errc::internal, e.what()}));
    }
    if constexpr (std::is_void_v<T>) {
      finish(result<void>{});
    } else {
      finish(result<T>(std::move(value)));
    }
  }
  bool failed() const { return error_.has_value(); }
  /// Its deadline passed: `timeout`, unless it completed already. From the
  /// watch's thread; touches neither the value nor the error the parts fill.
  void expire() override {
    if (completed_.exchange(true)) return;
    finish(
        result<T>(api_error{api_errc::timeout, context + ": no answer within the call's timeout (" +
                                                   std::to_string(timeout.count()) + " ms)"}));
  }

 private:
  // Runs the callback once, whoever completed the call.
  void finish(result<T> r) {
    if (!r) failures_->failed(r.error());
    auto done = std::move(done_);
    try {
      const callback_scope scope;
      // An empty callback: fire and forget (wait() reports a failure); it
      // was called, and logged "a completion callback threw: bad_function_call".
      if (done) done(std::move(r));
    } catch (const std::exception& e) {
      spdlog::error("client: a completion callback threw: {}", e.what());
    } catch (...) {  // anything else would kill the thread that runs it
      spdlog::error("client: a completion callback threw a non-standard exception");
    }
    tracker_->close(ticket_);
  }

  std::function<void(result<T>)> done_;
  std::shared_ptr<call_tracker> tracker_;
  std::shared_ptr<call_tracker> failures_;
  std::uint64_t ticket_;
  std::optional<api_error> error_;
  std::atomic<bool> completed_{false};
};

}  // namespace troupe
