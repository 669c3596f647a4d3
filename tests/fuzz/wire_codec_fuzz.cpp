// Fuzz target: every decoder of the worker <-> shard protocol
// (engine/wire/wire_codec.hpp), and what a shard does with a push or pull
// that decoded: apply it to a store, answer it.
#include "engine/wire/wire_codec.hpp"

#include "fuzz_store.hpp"
#include "fuzz_target.hpp"

namespace troupe::fuzz {

std::vector<std::string> seeds() {
  std::vector<bytes> msgs;
  {
    auto w = push_writer::dense({1, 3, 2, 5, 0}, 8, 16);
    for (std::size_t i = 0; i < w.count(); ++i) w.values()[i] = 0.25f * static_cast<float>(i);
    msgs.push_back(std::move(w).finish());
  }
  {
    const std::uint64_t keys[] = {7, 9, 7};
    auto w = push_writer::sparse({2, 1, 4, 6, 3}, keys, 3, 4);
    for (std::size_t i = 0; i < w.count(); ++i) w.values()[i] = 1.0f;
    msgs.push_back(std::move(w).finish());
  }
  msgs.push_back(encode_dense_pull(1, 3, 0, 64));
  const std::uint64_t keys[] = {1, 2, 3, 1u << 19};
  msgs.push_back(encode_sparse_pull(2, 3, keys, 4));
  {
    auto w = pull_reply_writer::dense(1, 9, 4, 8);
    for (std::size_t i = 0; i < w.count(); ++i) w.values()[i] = -1.5f;
    msgs.push_back(std::move(w).finish());
  }
  {
    auto w = pull_reply_writer::sparse(2, 9, keys, 4, 4);
    for (std::size_t i = 0; i < w.count(); ++i) w.values()[i] = 2.0f;
    msgs.push_back(std::move(w).finish());
  }
  {
    // Key caching: ids with their name, the name alone, a reply without ids.
    const auto name = name_key_list(keys, 4);
    auto full = push_writer::sparse({2, 1, 4, 7, 3, false, true}, keys, 4, 2, &name);
    for (std::size_t i = 0; i < full.count(); ++i) full.values()[i] = 0.5f;
    msgs.push_back(std::move(full).finish());
    auto by_name = push_writer::sparse({2, 1, 4, 8, 3, false, true}, nullptr, 4, 2, &name);
    for (std::size_t i = 0; i < by_name.count(); ++i) by_name.values()[i] = 0.5f;
    msgs.push_back(std::move(by_name).finish());
    msgs.push_back(encode_sparse_pull(2, 3, keys, 4, false, &name, true));
    msgs.push_back(encode_sparse_pull(2, 3, nullptr, 4, false, &name, true));
    auto w = pull_reply_writer::sparse(2, 9, keys, 4, 2, true);
    for (std::size_t i = 0; i < w.count(); ++i) w.values()[i] = 2.0f;
    msgs.push_back(std::move(w).finish());
  }
  msgs.push_back(encode_push_ack({5, 6, 1, true}));
  msgs.push_back(encode_clock_advance({3, 17}));
  std::vector<std::string> out;
  for (const auto& m : msgs) out.emplace_back(m.begin(), m.end());
  return out;
}

}  // namespace troupe::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace troupe;
  const bytes in(reinterpret_cast<const char*>(data), reinterpret_cast<const char*>(data) + size);
  auto store = fuzz::make_store();
  push_view push;
  if (decode_push(in, push)) {
    fuzz::touch(push.values, push.count);
    push_ack ack;
    // As the shard actor: row ids named by a key list are filled in first.
    if (store->complete_keys(push)) store->apply_push(push, ack);
  }
  pull_request_view pull;
  if (decode_pull_request(in, pull) && store->complete_keys(pull)) {
    bytes reply;
    if (store->read_pull(pull, reply)) {
      pull_reply_view back;
      if (!decode_pull_reply(reply, back)) __builtin_trap();  // a shard's own reply must decode
    }
  }
  pull_reply_view reply;
  if (decode_pull_reply(in, reply)) fuzz::touch(reply.values, reply.count);
  push_ack ack;
  decode_push_ack(in, ack);
  clock_advance clock;
  decode_clock_advance(in, clock);
  return 0;
}
