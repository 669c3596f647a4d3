// A client call's bookkeeping (actors/client_call.hpp): a call that is
// dropped without completing still answers and returns its ticket, and a
// callback that throws anything leaves the tracker consistent.
#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "actors/client_call.hpp"

namespace troupe {
namespace {

TEST(ClientCall, ADroppedCallCompletesWithInternalAndReturnsItsTicket) {
  auto tracker = std::make_shared<call_tracker>();
  std::optional<result<void>> got;
  {
    auto c = std::make_shared<call<void>>([&](result<void> r) { got = std::move(r); }, tracker);
    c->parts_left = 2;  // its parts never answer (e.g. building them threw)
  }
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error().code, api_errc::internal);
  tracker->wait();  // returns: the ticket is closed
}

TEST(ClientCall, CompletesOnceAndSurvivesACallbackThrowingAnything) {
  auto tracker = std::make_shared<call_tracker>();
  int runs = 0;
  {
    auto c = std::make_shared<call<int>>(
        [&](result<int> r) {
          ++runs;
          EXPECT_EQ(r.value(), 7);
          throw 42;  // not a std::exception
        },
        tracker);
    c->value = 7;
    c->parts_left = 1;
    c->part_done();
    c->complete();  // a second completion does nothing
  }
  EXPECT_EQ(runs, 1);
  tracker->wait();
}

}  // namespace
}  // namespace troupe
