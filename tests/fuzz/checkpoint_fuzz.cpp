// Fuzz target: the checkpoint reader (engine/store/checkpoint.hpp) and the
// store's restore of what it read. The first byte picks the mode: even, the
// rest is a whole file as found on disk; odd, the rest is a body that the
// target wraps in a valid header and checksums, so that mutations reach the
// body's parser instead of failing the CRC (with bit 1 set, as a version 2
// file, whose body lacks the in-order workers).
#include <zlib.h>

#include <cstring>

#include "engine/store/checkpoint.hpp"
#include "fuzz_store.hpp"
#include "fuzz_target.hpp"

namespace {

void put(std::string& out, const void* p, std::size_t n) {
  out.append(static_cast<const char*>(p), n);
}

std::uint32_t crc(const std::string& s) {
  return static_cast<std::uint32_t>(crc32_z(0, reinterpret_cast<const Bytef*>(s.data()), s.size()));
}

// magic, version, body size, CRC of those 20 bytes, body, CRC of all before.
std::string wrap(const char* body, std::size_t size, std::uint32_t version) {
  std::string out = "TROUPECK";
  const std::uint64_t body_size = size;
  put(out, &version, 4);
  put(out, &body_size, 8);
  const auto head = crc(out);
  put(out, &head, 4);
  out.append(body, size);
  const auto all = crc(out);
  put(out, &all, 4);
  return out;
}

}  // namespace

namespace troupe::fuzz {

std::vector<std::string> seeds() {
  auto store = make_store(0);
  // A push to each table, so that values, state, counts and rows are non-trivial.
  {
    auto w = push_writer::dense({1, 1, 0, 1, 0, false, true}, 0, 64);  // in order
    for (std::size_t i = 0; i < w.count(); ++i) w.values()[i] = 0.01f * static_cast<float>(i);
    const auto m = std::move(w).finish();
    push_view v;
    push_ack ack;
    if (decode_push(m, v)) store->apply_push(v, ack);
  }
  {
    const std::uint64_t keys[] = {3, 99, 1000};
    auto w = push_writer::sparse({2, 1, 0, 2, 0}, keys, 3, 4);
    for (std::size_t i = 0; i < w.count(); ++i) w.values()[i] = 0.5f;
    const auto m = std::move(w).finish();
    push_view v;
    push_ack ack;
    if (decode_push(m, v)) store->apply_push(v, ack);
  }
  const auto file = encode_checkpoint({"fuzz-job", 0, 40}, store->snapshot());
  std::string raw(1, '\0');
  raw.append(file.begin(), file.end());
  std::string body(1, '\1');
  body.append(file.begin() + 24, file.end() - 4);
  // As version 2: the same body without the in-order list (its last field:
  // a count and the one worker that pushed in order).
  std::string old_body(1, '\3');
  old_body.append(file.begin() + 24, file.end() - 4 - 8 - 4);
  return {raw, body, old_body};
}

}  // namespace troupe::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace troupe;
  if (size == 0) return 0;
  const char* rest = reinterpret_cast<const char*>(data) + 1;
  // Bit 0: the rest is a body to wrap, as the current version or (bit 1)
  // as version 2, which lacks the in-order workers.
  const std::uint32_t version = (data[0] & 2) != 0 ? 2 : troupe::checkpoint_format_version;
  const std::string file =
      (data[0] & 1) != 0 ? wrap(rest, size - 1, version) : std::string(rest, size - 1);
  checkpoint ck;
  if (decode_checkpoint(file.data(), file.size(), ck)) {
    auto store = fuzz::make_store(ck.snapshot.shard_id);
    store->restore(ck.snapshot);
  }
  return 0;
}
