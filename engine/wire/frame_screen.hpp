#pragma once
// Screens the byte stream a peer sends to a listening CAF 0.17 middleman
// before CAF's BASP broker sees it. BASP reads a 32-byte header and then
// allocates (and zero-fills) as many bytes as the header's payload length
// claims, up to 4 GiB, for anyone who connects: one packet drove a daemon to
// 4.3 GB. The screen follows the same framing, checks every header as BASP
// would (and stricter), and refuses a payload longer than the peer may send
// *before* the bytes reach BASP, so the claimed size is never allocated.
//
//   BASP header (32 bytes, network byte order):
//     u8 operation | u8 pad | u8 pad | u8 flags | u32 payload_len |
//     u64 operation_data | u64 source_actor | u64 dest_actor
//
//   fresh ---- client_handshake (payload <= max_handshake) ---> open
//   open  ---- any valid frame, payload <= limit -------------> open
//              limit = before_auth until the peer authenticated,
//                      after_auth once it has
//   any   ---- bad header / oversized payload ----------------> refused (sticky)
//
// Payloads go whole to an optional check: all of them before authentication,
// only repeated client handshakes after it. Other payloads after it are
// reported (take_unchecked_payload) for a check in place: copying every
// push here would cost a memcpy per message.
//
// Pure bytes, no CAF: actors/frame_guard applies it to accepted sockets and
// tells it whether the peer has authenticated; fuzzed by tests/fuzz.
//
//   troupe::frame_screen screen;
//   auto st = screen.feed(bytes, n, /*authenticated=*/false);
//   if (!st) close_connection(st.message());   // "payload of 4294967295 bytes ..."

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "engine/errors.hpp"

namespace troupe {

/// What a peer may send. The defaults fit CAF's own handshake and Troupe's
/// hello/auth requests (well under 1 KiB each) with room to spare.
struct frame_limits {
  std::uint32_t max_handshake = 4096;     ///< payload of a client handshake
  std::uint32_t before_auth = 64 * 1024;  ///< any payload before authentication
  /// Any payload once authenticated: a push or pull reply carries up to 2^28
  /// bytes of floats and 2^28 of row ids, plus CAF's envelope.
  std::uint32_t after_auth = (1u << 30) + (1u << 20);
};

/// BASP 3 operations (caf/io/basp/message_type.hpp): a header's `operation`.
namespace basp_op {
enum : std::uint8_t {
  server_handshake = 0,
  client_handshake = 1,
  direct_message = 2,
  routed_message = 3,
  monitor_message = 4,
  down_message = 5,
  heartbeat = 6,
};
}  // namespace basp_op

/// BASP 3 header flags (caf/io/basp/header.hpp).
namespace basp_flag {
enum : std::uint8_t {
  named_receiver = 0x01,     ///< dest_actor is an atom: a registered name
  select_connection = 0x02,  ///< a client handshake that takes over the peer's route
};
}  // namespace basp_flag

/// The fields of one BASP header.
struct basp_header {
  std::uint8_t operation = 0;
  std::uint8_t pad1 = 0;
  std::uint8_t pad2 = 0;
  std::uint8_t flags = 0;
  std::uint32_t payload_len = 0;
  std::uint64_t operation_data = 0;
  std::uint64_t source_actor = 0;
  std::uint64_t dest_actor = 0;
};

inline constexpr std::size_t basp_header_size = 32;

/// Decodes a 32-byte header (network byte order).
basp_header decode_basp_header(const std::uint8_t* bytes);

/// Whether a peer may send `h` to a listening node (CAF's own validity rules
/// plus: no server handshake, zero padding, known flags); ok or
/// malformed_message naming the field.
status check_basp_header(const basp_header& h);

class frame_screen {
 public:
  /// Looks into one whole payload a peer sent before authenticating (after
  /// its client handshake); a refusal closes the connection before BASP
  /// reads the payload. Payloads then are at most `before_auth` bytes, but
  /// what is inside them can still claim far more: CAF sizes a byte vector
  /// by the length it reads, before it checks that the bytes exist.
  using payload_check =
      std::function<status(const basp_header&, const std::vector<std::uint8_t>& payload)>;

  explicit frame_screen(frame_limits limits = {}, payload_check check = {})
      : limits_(limits), check_(std::move(check)) {}

  /// Screens the next `size` bytes of the stream. `authenticated` says which
  /// payload limit applies to headers completed in these bytes. Returns ok,
  /// or malformed_message / wrong_size with the reason; after the first
  /// refusal every call returns it again.
  status feed(const std::uint8_t* data, std::size_t size, bool authenticated);

  /// The client handshake's payload (the peer's serialized node id) once it
  /// has arrived completely; null before.
  const std::vector<std::uint8_t>* handshake() const {
    return handshake_done_ ? &handshake_ : nullptr;
  }

  /// The header of the payload that the last feed() completed when it was
  /// not checked here (it came after authentication: the caller checks it
  /// in place, as CAF is about to read it); cleared by taking it.
  std::optional<basp_header> take_unchecked_payload() {
    auto h = unchecked_;
    unchecked_.reset();
    return h;
  }

  /// Frames whose header passed so far.
  std::uint64_t frames() const { return frames_; }
  /// Bytes screened so far.
  std::uint64_t bytes() const { return bytes_; }
  /// Whether the stream stopped in the middle of a frame.
  bool mid_frame() const { return header_fill_ != 0 || payload_left_ != 0; }

 private:
  status check_header(bool authenticated);

  frame_limits limits_;
  std::array<std::uint8_t, basp_header_size> header_{};
  std::size_t header_fill_ = 0;
  std::uint64_t payload_left_ = 0;
  bool collecting_handshake_ = false;
  bool handshake_done_ = false;
  std::vector<std::uint8_t> handshake_;
  payload_check check_;
  bool collecting_payload_ = false;  // a payload that arrives before authentication
  basp_header payload_header_;       // of the payload being read
  std::vector<std::uint8_t> payload_;
  std::optional<basp_header> unchecked_;
  std::uint64_t frames_ = 0;
  std::uint64_t bytes_ = 0;
  status refused_;
};

}  // namespace troupe
