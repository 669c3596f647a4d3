// lookup_tcp: a numeric address is parsed without a lookup; a name is looked
// up on a helper thread, and a resolver that does not answer keeps its
// caller only until the deadline or until cancelled.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "engine/name_lookup.hpp"
#include "engine/tcp_probe.hpp"

namespace troupe {
namespace {

using namespace std::chrono_literals;

// A resolver that answers (with 127.0.0.1) only once released: a name
// server that does not reply. Its state is shared with the helper thread,
// which may outlive the test's stack.
struct stalled_resolver {
  struct state {
    std::promise<void> release;
    std::shared_future<void> released{release.get_future().share()};
    std::atomic<int> calls{0};
    std::promise<void> finished;
  };
  std::shared_ptr<state> s = std::make_shared<state>();

  name_resolver fn() const {
    return [s = s](const std::string&, const std::string& service, const addrinfo& hints,
                   addrinfo** out) {
      ++s->calls;
      const bool answered = s->released.wait_for(30s) == std::future_status::ready;
      const int rc =
          answered ? ::getaddrinfo("127.0.0.1", service.c_str(), &hints, out) : EAI_AGAIN;
      s->finished.set_value();
      return rc;
    };
  }
  // Lets the resolver answer and waits until the helper has taken its answer.
  void answer() const {
    s->release.set_value();
    EXPECT_EQ(s->finished.get_future().wait_for(30s), std::future_status::ready);
  }
};

std::string first_address(const lookup_result& r) {
  char host[NI_MAXHOST] = {};
  const addrinfo* a = r.addresses.get();
  if (a == nullptr ||
      ::getnameinfo(a->ai_addr, a->ai_addrlen, host, sizeof(host), nullptr, 0, NI_NUMERICHOST) != 0)
    return {};
  return host;
}

TEST(NameLookup, NumericAddressesAreParsedWithoutALookup) {
  // Owned by the resolver, which the lookup's helper may outlive the test with.
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto counting = [calls](const std::string&, const std::string&, const addrinfo&, addrinfo**) {
    ++*calls;
    return EAI_FAIL;
  };
  auto r = lookup_tcp("127.0.0.1", 80, 1s, nullptr, counting);
  ASSERT_EQ(r.status, lookup_status::found) << r.why;
  EXPECT_EQ(first_address(r), "127.0.0.1");
  r = lookup_tcp("::1", 80, 1s, nullptr, counting);
  ASSERT_EQ(r.status, lookup_status::found) << r.why;
  EXPECT_EQ(first_address(r), "::1");
  EXPECT_EQ(calls->load(), 0);
  // A name goes to the resolver, whose failure is reported with the name.
  r = lookup_tcp("ps-1.example", 80, 30s, nullptr, counting);
  EXPECT_EQ(calls->load(), 1);
  EXPECT_EQ(r.status, lookup_status::failed);
  EXPECT_FALSE(r.addresses);
  EXPECT_EQ(r.why, std::string("cannot resolve ps-1.example:80: ") + gai_strerror(EAI_FAIL));
}

TEST(NameLookup, TheSystemResolverFindsLocalhost) {
  const auto r = lookup_tcp("localhost", 4242, 10s);
  ASSERT_EQ(r.status, lookup_status::found) << r.why;
  for (const addrinfo* a = r.addresses.get(); a != nullptr; a = a->ai_next) {
    EXPECT_EQ(a->ai_socktype, SOCK_STREAM);
  }
}

TEST(NameLookup, AResolverThatAnswersInTimeIsWaitedFor) {
  stalled_resolver slow;
  std::thread answering([&] {
    std::this_thread::sleep_for(50ms);
    slow.answer();
  });
  const auto r = lookup_tcp("ps-1.example", 4242, 30s, nullptr, slow.fn());
  answering.join();
  ASSERT_EQ(r.status, lookup_status::found) << r.why;
  EXPECT_EQ(first_address(r), "127.0.0.1");
}

TEST(NameLookup, AStalledResolverKeepsTheCallerOnlyUntilTheDeadline) {
  stalled_resolver stalled;
  const auto r = lookup_tcp("ps-1.example", 4242, 200ms, nullptr, stalled.fn());
  // Returned while the resolver is still stalled: it has not been released.
  EXPECT_EQ(r.status, lookup_status::timed_out);
  EXPECT_EQ(r.why, "no answer from the resolver for ps-1.example:4242 within 200 ms");
  EXPECT_FALSE(r.addresses);
  EXPECT_EQ(stalled.s->calls.load(), 1);
  // The helper given up on still takes the late answer; it owns it, with
  // the state it shares, and frees it (under ASan, a leak would show).
  stalled.answer();
}

TEST(NameLookup, AStalledResolverKeepsTheCallerOnlyUntilCancelled) {
  stalled_resolver stalled;
  std::atomic<bool> cancel{false};
  std::thread owner([&] {
    std::this_thread::sleep_for(100ms);
    cancel = true;
  });
  // Only the cancellation can end this wait before the deadline (a broken
  // one shows as timed_out, 20 s later).
  const auto r = lookup_tcp("ps-1.example", 4242, 20s, &cancel, stalled.fn());
  owner.join();
  EXPECT_EQ(r.status, lookup_status::cancelled);
  EXPECT_EQ(r.why, "cancelled while resolving ps-1.example:4242");
  stalled.answer();
}

// A connect's probe counts the lookup against its deadline: a stalled name
// server is a timeout (silent), not a refusal, and cancelling ends it.
TEST(NameLookup, AProbeThroughAStalledResolverIsSilentOrCancelled) {
  stalled_resolver stalled;
  auto p = probe_tcp("ps-1.example", 4242, 200ms, nullptr, stalled.fn());
  EXPECT_EQ(p.answer, tcp_answer::silent);
  EXPECT_EQ(p.why, "no answer from the resolver for ps-1.example:4242 within 200 ms");
  stalled.answer();

  stalled_resolver again;
  std::atomic<bool> cancel{false};
  std::thread owner([&] {
    std::this_thread::sleep_for(100ms);
    cancel = true;
  });
  p = probe_tcp("ps-1.example", 4242, 20s, &cancel, again.fn());
  owner.join();
  EXPECT_EQ(p.answer, tcp_answer::cancelled);
  EXPECT_EQ(p.why, "cancelled while resolving ps-1.example:4242");
  again.answer();
}

}  // namespace
}  // namespace troupe
