// The bound on a worker's requests in flight: at most `limit` out, the rest
// queued in order, a superseded send takes no room, nothing overtakes what
// waits, and requests to a replaced primary stop counting.
#include <gtest/gtest.h>

#include <vector>

#include "actors/request_gate.hpp"

namespace troupe {
namespace {

TEST(RequestGate, KeepsAtMostItsLimitOutAndSendsTheRestInOrder) {
  request_gate gate(2);
  std::vector<int> sent;
  std::vector<request_gate::ticket> out;
  auto send = [&](int n) {
    return [&, n] {
      sent.push_back(n);
      out.push_back(gate.sent(0));
      return true;
    };
  };
  for (int n = 1; n <= 4; ++n) gate.submit(send(n));
  EXPECT_EQ(sent, (std::vector<int>{1, 2}));
  EXPECT_EQ(gate.in_flight(), 2u);
  EXPECT_EQ(gate.waiting(), 2u);
  // A request that must not wait (a resend) goes at once and counts.
  out.push_back(gate.sent(0));
  EXPECT_EQ(gate.in_flight(), 3u);
  gate.answered(out[0]);  // 2 out: still no room
  EXPECT_EQ(sent.size(), 2u);
  gate.answered(out[1]);  // room for one
  EXPECT_EQ(sent, (std::vector<int>{1, 2, 3}));
  // While 4 waits, a new send queues behind it even once there is room.
  gate.submit([&] {
    sent.push_back(99);  // superseded when its turn comes: takes no room
    return false;
  });
  gate.submit(send(5));
  EXPECT_EQ(gate.waiting(), 3u);
  gate.answered(out[2]);  // room for 4 only
  EXPECT_EQ(sent, (std::vector<int>{1, 2, 3, 4}));
  gate.answered(out[3]);  // the superseded one passes without taking the room 5 takes
  EXPECT_EQ(sent, (std::vector<int>{1, 2, 3, 4, 99, 5}));
  EXPECT_EQ(gate.in_flight(), 2u);
  EXPECT_EQ(gate.waiting(), 0u);
  gate.answered(out[4]);
  gate.answered(out[5]);
  gate.answered(out[5]);  // more answers than requests: never below zero
  EXPECT_EQ(gate.in_flight(), 0u);
  gate.submit(send(6));
  EXPECT_EQ(sent.back(), 6);
}

// A replaced primary's requests may never be answered (CAF 0.17 drops them):
// forget() frees their room, what waits goes only on drain() (after the
// caller's resends), and late answers to them count no more.
TEST(RequestGate, RequestsToAForgottenShardStopCounting) {
  request_gate gate(2);
  const auto a = gate.sent(3);
  const auto b = gate.sent(3);
  int later = 0;
  gate.submit([&] {
    ++later;
    gate.sent(1);
    return true;
  });
  EXPECT_EQ(later, 0);
  gate.forget(3);
  EXPECT_EQ(gate.in_flight(), 0u);
  EXPECT_EQ(later, 0);  // not before the resends
  const auto resent = gate.sent(3);
  gate.drain();
  EXPECT_EQ(later, 1);
  EXPECT_EQ(gate.in_flight(), 2u);
  gate.answered(a);  // from before forget(): ignored
  gate.answered(b);
  EXPECT_EQ(gate.in_flight(), 2u);
  gate.answered(resent);
  EXPECT_EQ(gate.in_flight(), 1u);
}

}  // namespace
}  // namespace troupe
