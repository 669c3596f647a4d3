#include "engine/name_lookup.hpp"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>

namespace troupe {

namespace {

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kCancelCheck{100};

// What the helper thread leaves for its caller. Shared, so that a helper the
// caller stopped waiting for still has somewhere to write, and frees it.
struct pending_lookup {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  int rc = 0;
  int err = 0;  // errno, for EAI_SYSTEM (the helper's own errno otherwise)
  addrinfo_list found;
};

std::string failure(const std::string& where, int rc, int err) {
  return "cannot resolve " + where + ": " +
         (rc == EAI_SYSTEM ? std::strerror(err) : gai_strerror(rc));
}

}  // namespace

name_resolver system_resolver() {
  return [](const std::string& host, const std::string& service, const addrinfo& hints,
            addrinfo** out) { return ::getaddrinfo(host.c_str(), service.c_str(), &hints, out); };
}

lookup_result lookup_tcp(const std::string& host, std::uint16_t port, milliseconds timeout,
                         const std::atomic<bool>* cancel, const name_resolver& resolve) {
  const auto deadline = steady::now() + timeout;
  const auto where = host + ":" + std::to_string(port);
  const auto service = std::to_string(port);
  lookup_result out;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;

  // A numeric address is parsed, never looked up: no thread, no waiting.
  addrinfo numeric_hints = hints;
  numeric_hints.ai_flags |= AI_NUMERICHOST;
  addrinfo* found = nullptr;
  // Anything but a parsed address (EAI_NONAME for a name) goes to the real
  // lookup, whose answer is the one to report.
  if (::getaddrinfo(host.c_str(), service.c_str(), &numeric_hints, &found) == 0) {
    out.status = lookup_status::found;
    out.addresses.reset(found);
    return out;
  }

  auto pending = std::make_shared<pending_lookup>();
  try {
    // Detached: a resolver that stalls past the deadline must not hold the
    // caller (nor, through a join, whoever destroys the caller).
    std::thread([pending, resolve, host, service, hints] {
      addrinfo* list = nullptr;
      const int rc = resolve(host, service, hints, &list);
      const int err = errno;
      const std::lock_guard<std::mutex> lock(pending->mutex);
      pending->rc = rc;
      pending->err = err;
      pending->found.reset(rc == 0 ? list : nullptr);
      pending->done = true;
      pending->done_cv.notify_one();
    }).detach();
  } catch (const std::system_error& e) {
    out.why = "cannot resolve " + where + ": no thread for the lookup (" + e.what() + ")";
    return out;
  }

  std::unique_lock<std::mutex> lock(pending->mutex);
  while (!pending->done) {
    if (cancel != nullptr && cancel->load()) {
      out.status = lookup_status::cancelled;
      out.why = "cancelled while resolving " + where;
      return out;
    }
    const auto now = steady::now();
    if (now >= deadline) {
      out.status = lookup_status::timed_out;
      out.why = "no answer from the resolver for " + where + " within " +
                std::to_string(timeout.count()) + " ms";
      return out;
    }
    auto wake = deadline;
    if (cancel != nullptr) wake = std::min(wake, now + kCancelCheck);
    pending->done_cv.wait_until(lock, wake);
  }
  if (pending->rc != 0) {
    out.why = failure(where, pending->rc, pending->err);
    return out;
  }
  if (!pending->found) {
    out.why = "cannot resolve " + where + ": no address";
    return out;
  }
  out.status = lookup_status::found;
  out.addresses = std::move(pending->found);
  return out;
}

}  // namespace troupe
