// The screen in front of CAF's BASP broker: what a peer may send before and
// after it authenticated (engine/wire/frame_screen.hpp).
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "engine/wire/frame_screen.hpp"

namespace troupe {
namespace {

using bytes = std::vector<std::uint8_t>;

void put_be(bytes& out, std::uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

// A BASP header as CAF 0.17 writes it (network byte order).
bytes header(std::uint8_t op, std::uint32_t payload, std::uint64_t op_data = 0,
             std::uint64_t src = 0, std::uint64_t dst = 0, std::uint8_t flags = 0) {
  bytes out{op, 0, 0, flags};
  put_be(out, payload, 4);
  put_be(out, op_data, 8);
  put_be(out, src, 8);
  put_be(out, dst, 8);
  return out;
}

bytes frame(std::uint8_t op, std::uint32_t payload, std::uint64_t op_data = 0,
            std::uint64_t src = 0, std::uint64_t dst = 0) {
  auto out = header(op, payload, op_data, src, dst);
  for (std::uint32_t i = 0; i < payload; ++i) out.push_back(static_cast<std::uint8_t>(i * 7));
  return out;
}

bytes operator+(bytes a, const bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// What a CAF client sends: its handshake (a node id), heartbeats, a request.
bytes caf_like_stream() {
  return frame(1, 25) + frame(1, 25) + frame(6, 0) + frame(2, 300, 0, 7, 9) +
         frame(4, 40, 0, 0, 3) + frame(5, 60, 0, 3, 0) + frame(3, 500, 0, 0, 12);
}

TEST(FrameScreen, PassesWhatACafClientSendsWhicheverWayItIsCut) {
  const auto stream = caf_like_stream();
  frame_screen whole;
  ASSERT_TRUE(whole.feed(stream.data(), stream.size(), false));
  EXPECT_EQ(whole.frames(), 7u);
  EXPECT_FALSE(whole.mid_frame());
  ASSERT_NE(whole.handshake(), nullptr);
  EXPECT_EQ(*whole.handshake(), bytes(stream.begin() + 32, stream.begin() + 32 + 25));

  frame_screen byte_by_byte;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    ASSERT_TRUE(byte_by_byte.feed(&stream[i], 1, false)) << "at byte " << i;
    if (i < 32 + 24) {
      EXPECT_EQ(byte_by_byte.handshake(), nullptr);
    }
  }
  EXPECT_EQ(byte_by_byte.frames(), 7u);
  EXPECT_EQ(*byte_by_byte.handshake(), *whole.handshake());
}

// Issue 12, problem 1: one 32-byte header claiming 4 GiB made CAF allocate it.
TEST(FrameScreen, RefusesTheFourGibHeaderBeforeAnythingIsAllocated) {
  const auto h = header(1, 0xffffffffu, 3);
  frame_screen screen;
  const auto st = screen.feed(h.data(), h.size(), false);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.code(), errc::wrong_size);
  EXPECT_NE(st.message().find("4294967295"), std::string::npos) << st.message();
  // Sticky: nothing after a refusal passes.
  const auto more = frame(6, 0);
  EXPECT_FALSE(screen.feed(more.data(), more.size(), true));
}

TEST(FrameScreen, PayloadLimitDependsOnAuthentication) {
  frame_limits limits;
  limits.before_auth = 1000;
  limits.after_auth = 100000;
  const auto hs = frame(1, 25);
  const auto big = header(2, 5000, 0, 0, 9);
  {
    frame_screen screen(limits);
    ASSERT_TRUE(screen.feed(hs.data(), hs.size(), false));
    EXPECT_EQ(screen.feed(big.data(), big.size(), false).code(), errc::wrong_size);
  }
  {
    frame_screen screen(limits);
    ASSERT_TRUE(screen.feed(hs.data(), hs.size(), false));
    EXPECT_TRUE(screen.feed(big.data(), big.size(), true));
    EXPECT_TRUE(screen.mid_frame());  // the payload is still to come
    const auto huge = header(2, 200000, 0, 0, 9);
    frame_screen again(limits);
    ASSERT_TRUE(again.feed(hs.data(), hs.size(), true));
    EXPECT_EQ(again.feed(huge.data(), huge.size(), true).code(), errc::wrong_size);
  }
  {
    // A handshake never gets more than max_handshake, authenticated or not.
    frame_screen screen(limits);
    const auto fat = header(1, limits.max_handshake + 1);
    EXPECT_EQ(screen.feed(fat.data(), fat.size(), true).code(), errc::wrong_size);
  }
}

TEST(FrameScreen, RefusesHeadersBaspWouldNotExpectFromAClient) {
  struct bad_case {
    const char* what;
    bytes data;
  };
  const auto hs = frame(1, 25);
  const std::vector<bad_case> cases{
      {"message before the handshake", frame(2, 10, 0, 0, 9)},
      {"server handshake sent to a server", frame(0, 10, 1)},
      {"unknown operation", hs + header(7, 0)},
      {"heartbeat with a payload", hs + header(6, 4)},
      {"message without receiver", hs + header(2, 4, 0, 1, 0)},
      {"message without payload", hs + header(3, 0, 0, 1, 5)},
      {"monitor message with operation data", hs + header(4, 4, 1, 0, 5)},
      {"down message to an actor", hs + header(5, 4, 0, 1, 5)},
      {"handshake naming actors", header(1, 4, 0, 1, 0)},
      {"handshake without payload", header(1, 0)},
      {"unknown flags", hs + header(6, 0, 0, 0, 0, 0x80)},
      {"non-zero padding", bytes{1, 1, 0, 0, 0, 0, 0, 25} + bytes(24, 0)},
      {"the client speaks TLS", bytes{0x16, 3, 1, 0, 0xc8, 1, 0, 0} + bytes(24, 0)},
  };
  for (const auto& c : cases) {
    frame_screen screen;
    const auto st = screen.feed(c.data.data(), c.data.size(), true);
    EXPECT_FALSE(st) << c.what;
    EXPECT_EQ(st.code(), errc::malformed_message) << c.what << ": " << st.message();
  }
  // A TLS ClientHello says what it is (it read as "non-zero padding").
  frame_screen screen;
  const auto hello = bytes{0x16, 3, 1, 0, 0xc8, 1, 0, 0} + bytes(24, 0);
  EXPECT_NE(screen.feed(hello.data(), hello.size(), false).message().find("the client speaks TLS"),
            std::string::npos);
}

TEST(FrameScreen, KnowsWhenAStreamStopsMidFrame) {
  const auto hs = frame(1, 25);
  frame_screen screen;
  ASSERT_TRUE(screen.feed(hs.data(), 20, false));
  EXPECT_TRUE(screen.mid_frame());
  EXPECT_EQ(screen.bytes(), 20u);
  ASSERT_TRUE(screen.feed(hs.data() + 20, hs.size() - 20, false));
  EXPECT_FALSE(screen.mid_frame());
}

// Random bytes never crash the screen and are refused, as the first byte
// must be a client handshake with zero padding and a short payload.
TEST(FrameScreen, RandomBytesAreRefused) {
  std::mt19937 rng(12);
  for (int i = 0; i < 2000; ++i) {
    // A buffer shorter than a header cannot be judged yet: at least one header.
    bytes data(basp_header_size + rng() % 2000);
    for (auto& b : data) b = static_cast<std::uint8_t>(rng());
    frame_screen screen;
    EXPECT_FALSE(screen.feed(data.data(), data.size(), false)) << "buffer " << i;
  }
}

}  // namespace
}  // namespace troupe
