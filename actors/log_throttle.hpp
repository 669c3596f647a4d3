#pragma once
// Keeps a stream of alike warnings (refusals of a hostile peer's requests,
// one line each) from flooding the log: at most `per_second` lines a
// second; the rest are counted, and the next line after a quiet second is
// preceded by one that says how many were left out (or flush() says so,
// from a periodic tick, when no line follows). A peer without the
// secret could otherwise write ~9 MB of log a second at a node.
//
//   log_throttle throttle{"node n1"};  // in an actor's state (not thread-safe)
//   if (throttle.admit()) spdlog::warn("node n1: refused {} from {}: {}", what, peer, why);
//
// Not thread-safe: one per actor, or behind the caller's mutex.

#include <chrono>
#include <cstdint>
#include <string>

namespace troupe {

class log_throttle {
 public:
  using clock = std::chrono::steady_clock;

  /// `subject` begins the line that counts what was left out.
  explicit log_throttle(std::string subject, std::uint32_t per_second = 10);

  /// Whether the caller may log its line now. A line it may not is counted;
  /// the first one admitted in a later second is preceded by a warning
  /// "<subject>: N more alike warnings not logged".
  bool admit(clock::time_point now = clock::now());

  /// Says how many lines were left out, once their second is over, even if
  /// no later line comes (the end of a burst was never reported): call it
  /// from a periodic tick.
  void flush(clock::time_point now = clock::now());

  /// Lines left out since this throttle was made.
  std::uint64_t suppressed_total() const { return suppressed_total_; }

 private:
  std::string subject_;
  std::uint32_t per_second_;
  clock::time_point window_{};
  std::uint32_t logged_in_window_ = 0;
  std::uint64_t suppressed_ = 0;  // in windows not yet reported
  std::uint64_t suppressed_total_ = 0;
};

}  // namespace troupe
