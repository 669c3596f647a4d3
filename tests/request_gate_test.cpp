// The bound on a worker's requests in flight: at most `limit` out, the rest
// queued in order, a superseded send takes no room, and nothing overtakes
// what waits.
#include <gtest/gtest.h>

#include <vector>

#include "actors/request_gate.hpp"

namespace troupe {
namespace {

TEST(RequestGate, KeepsAtMostItsLimitOutAndSendsTheRestInOrder) {
  request_gate gate(2);
  std::vector<int> sent;
  auto send = [&](int n) {
    return [&sent, &gate, n] {
      sent.push_back(n);
      gate.sent();
      return true;
    };
  };
  for (int n = 1; n <= 4; ++n) gate.submit(send(n));
  EXPECT_EQ(sent, (std::vector<int>{1, 2}));
  EXPECT_EQ(gate.in_flight(), 2u);
  EXPECT_EQ(gate.waiting(), 2u);
  // A request that must not wait (a resend) goes at once and counts.
  gate.sent();
  EXPECT_EQ(gate.in_flight(), 3u);
  gate.answered();  // 2 out: still no room
  EXPECT_EQ(sent.size(), 2u);
  gate.answered();  // room for one
  EXPECT_EQ(sent, (std::vector<int>{1, 2, 3}));
  // While 4 waits, a new send queues behind it even once there is room.
  gate.submit([&] {
    sent.push_back(99);  // superseded when its turn comes: takes no room
    return false;
  });
  gate.submit(send(5));
  EXPECT_EQ(gate.waiting(), 3u);
  gate.answered();  // room for 4 only
  EXPECT_EQ(sent, (std::vector<int>{1, 2, 3, 4}));
  gate.answered();  // the superseded one passes without taking the room 5 takes
  EXPECT_EQ(sent, (std::vector<int>{1, 2, 3, 4, 99, 5}));
  EXPECT_EQ(gate.in_flight(), 2u);
  EXPECT_EQ(gate.waiting(), 0u);
  gate.answered();
  gate.answered();
  gate.answered();  // more answers than requests: never below zero
  EXPECT_EQ(gate.in_flight(), 0u);
  gate.submit(send(6));
  EXPECT_EQ(sent.back(), 6);
}

}  // namespace
}  // namespace troupe
