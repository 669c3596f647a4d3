// Fuzz target: the pre-authentication screen in front of CAF's BASP
// (engine/wire/frame_screen.hpp). Bytes are fed in chunks whose sizes come
// from the input; the verdict must not depend on how the stream was cut,
// and a refused stream stays refused.
#include "engine/wire/frame_screen.hpp"
#include "fuzz_target.hpp"

namespace {

std::string header(std::uint8_t op, std::uint32_t payload, std::uint64_t dst = 0) {
  std::string out{static_cast<char>(op), 0, 0, 0};
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>(payload >> (8 * i)));
  for (int i = 0; i < 16; ++i) out.push_back('\0');
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(dst >> (8 * i)));
  return out;
}

}  // namespace

namespace troupe::fuzz {

std::vector<std::string> seeds() {
  // byte 0: authenticated flag and chunking seed; then the stream.
  const std::string hs = header(1, 25) + std::string(25, 'n');
  return {std::string("\x00", 1) + hs + header(6, 0) + header(2, 100, 9) + std::string(100, 'm'),
          std::string("\x01", 1) + hs + header(2, 3000, 9) + std::string(3000, 'x'),
          std::string("\x02", 1) + header(1, 0xffffffffu)};
}

}  // namespace troupe::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace troupe;
  if (size == 0) return 0;
  const bool authenticated = (data[0] & 1) != 0;
  frame_limits limits;  // small, so that limits are reached by short inputs
  limits.max_handshake = 64;
  limits.before_auth = 512;
  limits.after_auth = 4096;
  ++data;
  --size;
  frame_screen whole(limits);
  const auto verdict = whole.feed(data, size, authenticated);
  frame_screen cut(limits);
  status piecewise;
  std::size_t chunk = size > 0 ? 1 + data[0] % 13 : 1;
  for (std::size_t off = 0; off < size && piecewise;) {
    const auto n = std::min(chunk, size - off);
    piecewise = cut.feed(data + off, n, authenticated);
    off += n;
    chunk = 1 + (chunk * 7 + off) % 29;
  }
  if (verdict.ok() != piecewise.ok() || verdict.code() != piecewise.code()) __builtin_trap();
  if (verdict.ok() && (whole.frames() != cut.frames() || whole.mid_frame() != cut.mid_frame())) {
    __builtin_trap();
  }
  if (!verdict.ok() && whole.feed(data, size, true).ok()) __builtin_trap();  // sticky
  return 0;
}
