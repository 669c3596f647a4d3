#include "engine/wire/frame_screen.hpp"

#include <algorithm>
#include <string>

namespace troupe {

namespace {

constexpr std::uint8_t known_flags = basp_flag::named_receiver | basp_flag::select_connection;

template <class T>
T big_endian(const std::uint8_t* p) {
  T out = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) out = static_cast<T>((out << 8) | p[i]);
  return out;
}

status malformed(const std::string& why) {
  return {errc::malformed_message, "BASP header " + why};
}

}  // namespace

basp_header decode_basp_header(const std::uint8_t* b) {
  basp_header h;
  h.operation = b[0];
  h.pad1 = b[1];
  h.pad2 = b[2];
  h.flags = b[3];
  h.payload_len = big_endian<std::uint32_t>(b + 4);
  h.operation_data = big_endian<std::uint64_t>(b + 8);
  h.source_actor = big_endian<std::uint64_t>(b + 16);
  h.dest_actor = big_endian<std::uint64_t>(b + 24);
  return h;
}

status check_basp_header(const basp_header& h) {
  if (h.pad1 != 0 || h.pad2 != 0) return malformed("with non-zero padding");
  if ((h.flags & ~known_flags) != 0) {
    return malformed("with unknown flags " + std::to_string(h.flags));
  }
  const bool has_payload = h.payload_len != 0;
  switch (h.operation) {
    case basp_op::server_handshake:
      return malformed("of a server handshake sent to a server");
    case basp_op::client_handshake:
      if (h.source_actor != 0 || h.dest_actor != 0 || !has_payload) {
        return malformed("of a client handshake with actors or without payload");
      }
      return {};
    case basp_op::direct_message:
    case basp_op::routed_message:
      if (h.dest_actor == 0 || !has_payload) {
        return malformed("of a message without receiver or payload");
      }
      return {};
    case basp_op::monitor_message:
      if (!has_payload || h.operation_data != 0) return malformed("of an invalid monitor message");
      return {};
    case basp_op::down_message:
      if (h.source_actor == 0 || h.dest_actor != 0 || !has_payload || h.operation_data != 0) {
        return malformed("of an invalid down message");
      }
      return {};
    case basp_op::heartbeat:
      if (h.source_actor != 0 || h.dest_actor != 0 || has_payload || h.operation_data != 0) {
        return malformed("of a heartbeat with fields set");
      }
      return {};
    default:
      return malformed("with unknown operation " + std::to_string(h.operation));
  }
}

status frame_screen::check_header(bool authenticated) {
  // A TLS handshake record (type 22, version 3.x) where a BASP header
  // belongs: a client set up for TLS against a listener without it, which
  // "non-zero padding" did not tell.
  if (frames_ == 0 && header_[0] == 0x16 && header_[1] == 0x03) {
    return {errc::malformed_message,
            "a TLS handshake: the client speaks TLS, this listener does not (start both with "
            "TLS files, or neither)"};
  }
  const auto h = decode_basp_header(header_.data());
  if (auto st = check_basp_header(h); !st) return st;
  const bool first = frames_ == 0;
  if (first && h.operation != basp_op::client_handshake) {
    return malformed("of operation " + std::to_string(h.operation) +
                     " before the client handshake");
  }
  std::uint32_t limit = authenticated ? limits_.after_auth : limits_.before_auth;
  if (h.operation == basp_op::client_handshake) limit = std::min(limit, limits_.max_handshake);
  if (h.payload_len > limit) {
    return {errc::wrong_size,
            "BASP frame claims a payload of " + std::to_string(h.payload_len) + " bytes; at most " +
                std::to_string(limit) + " allowed " +
                (authenticated ? "from an authenticated peer" : "before authentication")};
  }
  ++frames_;
  payload_left_ = h.payload_len;
  collecting_handshake_ = first;
  if (first) handshake_.reserve(h.payload_len);
  // Before authentication every payload goes to the check; after it, only
  // repeated client handshakes (a few bytes each): one naming a connection
  // as the route in use matters whoever sends it.
  collecting_payload_ = !first && check_ && h.payload_len > 0 &&
                        (!authenticated || h.operation == basp_op::client_handshake);
  payload_header_ = h;
  if (collecting_payload_) {
    payload_.clear();
    payload_.reserve(h.payload_len);  // at most before_auth
  }
  return {};
}

status frame_screen::feed(const std::uint8_t* data, std::size_t size, bool authenticated) {
  if (!refused_) return refused_;
  unchecked_.reset();
  bytes_ += size;
  while (size > 0) {
    if (payload_left_ > 0) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(payload_left_, size));
      if (collecting_handshake_) handshake_.insert(handshake_.end(), data, data + n);
      if (collecting_payload_) payload_.insert(payload_.end(), data, data + n);
      payload_left_ -= n;
      data += n;
      size -= n;
      if (payload_left_ == 0 && collecting_handshake_) {
        collecting_handshake_ = false;
        handshake_done_ = true;
      }
      if (payload_left_ == 0 && collecting_payload_) {
        collecting_payload_ = false;
        if (auto st = check_(payload_header_, payload_); !st) {
          refused_ = st;
          return st;
        }
      } else if (payload_left_ == 0 && frames_ > 1) {
        unchecked_ = payload_header_;
      }
      continue;
    }
    const auto n = std::min(basp_header_size - header_fill_, size);
    std::copy(data, data + n, header_.begin() + static_cast<std::ptrdiff_t>(header_fill_));
    header_fill_ += n;
    data += n;
    size -= n;
    if (header_fill_ < basp_header_size) break;
    header_fill_ = 0;
    if (auto st = check_header(authenticated); !st) {
      refused_ = st;
      return st;
    }
  }
  return {};
}

}  // namespace troupe
