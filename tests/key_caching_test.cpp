// Key caching (KeyList in schemas/troupe.capnp): row ids sent once with
// their name and then by name only, pull replies without the ids, and every
// way a name can be wrong or unknown, in the codec, the cache and the store.
#include <gtest/gtest.h>

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <numeric>

#include "engine/store/key_list_cache.hpp"
#include "engine/store/shard_store.hpp"
#include "engine/wire/wire_codec.hpp"
#include "schemas/troupe.capnp.h"

namespace troupe {
namespace {

std::vector<std::uint64_t> ids(std::uint64_t first, std::size_t n) {
  std::vector<std::uint64_t> out(n);
  std::iota(out.begin(), out.end(), first);
  return out;
}

bytes flat(capnp::MessageBuilder& b) {
  auto words = capnp::messageToFlatArray(b);
  auto raw = words.asBytes();
  return bytes(reinterpret_cast<const char*>(raw.begin()),
               reinterpret_cast<const char*>(raw.end()));
}

TEST(KeyListName, IsTheSha256OfTheIdsAndTellsListsApart) {
  const auto a = ids(0, 1000), b = ids(1, 1000);
  const auto name = name_key_list(a.data(), a.size());
  EXPECT_TRUE(name.named);
  EXPECT_EQ(name.count, 1000u);
  EXPECT_EQ(name, name_key_list(a.data(), a.size()));
  EXPECT_FALSE(name == name_key_list(b.data(), b.size()));
  // SHA-256 of no bytes: e3b0c442...
  const auto empty = name_key_list(nullptr, 0);
  EXPECT_EQ(empty.digest[0], 0xe3);
  EXPECT_EQ(empty.digest[1], 0xb0);
  EXPECT_EQ(describe(empty), "e3b0c442 (0 ids)");
}

TEST(KeyCachingCodec, PushesCarryTheNameWithOrInsteadOfTheIds) {
  const auto keys = ids(10, 5);
  const auto name = name_key_list(keys.data(), keys.size());
  auto full = push_writer::sparse({2, 1, 0, 1, 0}, keys.data(), keys.size(), 2, &name);
  std::iota(full.values(), full.values() + full.count(), 0.0f);
  const auto full_msg = std::move(full).finish();
  auto by_name = push_writer::sparse({2, 1, 0, 2, 0, false, true}, nullptr, keys.size(), 2, &name);
  std::iota(by_name.values(), by_name.values() + by_name.count(), 0.0f);
  const auto name_msg = std::move(by_name).finish();
  EXPECT_LT(name_msg.size() + 5 * 8, full_msg.size() + 1);  // the ids stayed home

  push_view v;
  ASSERT_TRUE(decode_push(full_msg, v).ok());
  EXPECT_EQ(v.keys, keys);
  EXPECT_FALSE(v.keys_omitted);
  EXPECT_EQ(v.key_list, name);
  ASSERT_TRUE(decode_push(name_msg, v).ok());
  EXPECT_TRUE(v.keys.empty());
  EXPECT_TRUE(v.keys_omitted);
  EXPECT_EQ(v.key_list, name);
  EXPECT_EQ(v.rows(), 5u);
  ASSERT_EQ(v.count, 10u);
  EXPECT_FLOAT_EQ(v.values[9], 9.0f);

  // A name-only push must say as many rows as its name counts, and be in
  // order (a refused one is sent again with its seq: see the decoder test).
  EXPECT_THROW(push_writer::sparse({2, 1, 0, 3, 0, false, true}, nullptr, 4, 2, &name),
               troupe_error);
  EXPECT_THROW(push_writer::sparse({2, 1, 0, 3, 0}, nullptr, keys.size(), 2, &name), troupe_error);
}

TEST(KeyCachingCodec, PullsByNameAndRepliesWithoutTheIds) {
  const auto keys = ids(7, 3);
  const auto name = name_key_list(keys.data(), keys.size());
  pull_request_view pr;
  ASSERT_TRUE(
      decode_pull_request(encode_sparse_pull(4, 9, nullptr, 3, false, &name, true), pr).ok());
  EXPECT_TRUE(pr.sparse);
  EXPECT_TRUE(pr.keys_omitted);
  EXPECT_TRUE(pr.omit_keys);
  EXPECT_EQ(pr.key_list, name);
  ASSERT_TRUE(decode_pull_request(encode_sparse_pull(4, 9, keys.data(), 3), pr).ok());
  EXPECT_FALSE(pr.keys_omitted);
  EXPECT_FALSE(pr.omit_keys);
  EXPECT_FALSE(pr.key_list.named);

  auto w = pull_reply_writer::sparse(4, 12, keys.data(), keys.size(), 2, true);
  std::iota(w.values(), w.values() + w.count(), 1.0f);
  const auto reply = std::move(w).finish();
  pull_reply_view rv;
  ASSERT_TRUE(decode_pull_reply(reply, rv).ok());
  EXPECT_TRUE(rv.keys.empty());
  EXPECT_TRUE(rv.keys_omitted);
  EXPECT_EQ(rv.rows(), 3u);
  ASSERT_EQ(rv.count, 6u);
  EXPECT_FLOAT_EQ(rv.values[5], 6.0f);
}

TEST(KeyCachingCodec, RefusesNamesThatDoNotFitTheMessage) {
  // A digest that is not 32 bytes.
  {
    capnp::MallocMessageBuilder b;
    auto req = b.initRoot<wire::PullRequest>();
    req.setVersion(wire::PROTOCOL_VERSION);
    req.initKeyList().initDigest(16);
    req.getKeyList().setCount(3);
    req.initSparse(0);
    pull_request_view pr;
    EXPECT_EQ(decode_pull_request(flat(b), pr).code(), errc::malformed_message);
  }
  // A key list on a dense pull.
  {
    capnp::MallocMessageBuilder b;
    auto req = b.initRoot<wire::PullRequest>();
    req.setVersion(wire::PROTOCOL_VERSION);
    req.initKeyList().initDigest(32);
    req.initDense().setCount(4);
    pull_request_view pr;
    EXPECT_EQ(decode_pull_request(flat(b), pr).code(), errc::malformed_message);
  }
  // Ids sent with a name that counts other than they are.
  {
    const auto keys = ids(0, 4);
    auto name = name_key_list(keys.data(), keys.size());
    name.count = 5;
    capnp::MallocMessageBuilder b;
    auto req = b.initRoot<wire::PullRequest>();
    req.setVersion(wire::PROTOCOL_VERSION);
    auto list = req.initKeyList();
    list.initDigest(32);
    list.setCount(name.count);
    auto sparse = req.initSparse(4);
    for (unsigned i = 0; i < 4; ++i) sparse.set(i, keys[i]);
    pull_request_view pr;
    EXPECT_EQ(decode_pull_request(flat(b), pr).code(), errc::wrong_size);
  }
  // A push by name that is not in order: a refusal for want of its ids,
  // then a later push applied, would make its resend look like a duplicate.
  {
    capnp::MallocMessageBuilder b;
    auto req = b.initRoot<wire::PushRequest>();
    req.setVersion(wire::PROTOCOL_VERSION);
    req.setSeq(5);
    auto rows = req.initSparse();
    auto list = rows.initKeyList();
    list.initDigest(32);
    list.setCount(2);
    rows.setWidth(2);
    rows.initValues(4 * 4);
    push_view v;
    EXPECT_EQ(decode_push(flat(b), v).code(), errc::malformed_message);
    req.setInOrder(true);
    EXPECT_TRUE(decode_push(flat(b), v).ok());
  }
  // A push by name whose count times width is not its values: a count near
  // 2^64 must not wrap into a match.
  for (const std::uint64_t count : {std::uint64_t{3}, std::uint64_t{1} << 63, ~std::uint64_t{0}}) {
    capnp::MallocMessageBuilder b;
    auto req = b.initRoot<wire::PushRequest>();
    req.setVersion(wire::PROTOCOL_VERSION);
    req.setInOrder(true);
    auto rows = req.initSparse();
    auto list = rows.initKeyList();
    list.initDigest(32);
    list.setCount(count);
    rows.setWidth(2);
    rows.initValues(4 * 4);  // 4 floats: 2 rows of width 2
    push_view v;
    EXPECT_EQ(decode_push(flat(b), v).code(), errc::wrong_size) << count;
  }
}

TEST(KeyListCache, FillsInAListItWasSentInFull) {
  key_list_cache cache;
  auto keys = ids(100, 50);
  const auto name = name_key_list(keys.data(), keys.size());
  std::vector<std::uint64_t> by_name;
  EXPECT_EQ(cache.complete(name, true, by_name).code(), errc::unknown_key_list);
  ASSERT_TRUE(cache.complete(name, false, keys).ok());
  EXPECT_EQ(cache.lists(), 1u);
  EXPECT_EQ(cache.bytes(), 50u * 8u + key_list_cache::entry_overhead_bytes);
  ASSERT_TRUE(cache.complete(name, true, by_name).ok());
  EXPECT_EQ(by_name, keys);
  // Sent in full again: nothing new held.
  ASSERT_TRUE(cache.complete(name, false, keys).ok());
  EXPECT_EQ(cache.lists(), 1u);
  // Unnamed requests pass untouched.
  std::vector<std::uint64_t> plain = ids(0, 2);
  ASSERT_TRUE(cache.complete(key_list_name{}, false, plain).ok());
  EXPECT_EQ(plain, ids(0, 2));
}

TEST(KeyListCache, NoNameStandsForOtherIds) {
  key_list_cache cache;
  const auto keys = ids(0, 8);
  auto other = ids(1, 8);
  const auto name = name_key_list(keys.data(), keys.size());
  // Not held: the digest is checked.
  EXPECT_EQ(cache.complete(name, false, other).code(), errc::malformed_message);
  EXPECT_EQ(cache.lists(), 0u);
  auto copy = keys;
  ASSERT_TRUE(cache.complete(name, false, copy).ok());
  // Held: compared with what is held.
  EXPECT_EQ(cache.complete(name, false, other).code(), errc::malformed_message);
  std::vector<std::uint64_t> filled;
  ASSERT_TRUE(cache.complete(name, true, filled).ok());
  EXPECT_EQ(filled, keys);
  // A name whose count disagrees with the list held under its digest.
  auto miscounted = name;
  miscounted.count = 9;
  EXPECT_EQ(cache.complete(miscounted, true, filled).code(), errc::wrong_size);
}

TEST(KeyListCache, KeepsTheMostRecentlyUsedWithinItsBytes) {
  const std::size_t list_bytes = 10 * 8 + key_list_cache::entry_overhead_bytes;
  key_list_cache cache(3 * list_bytes);  // three lists of 10 ids
  std::vector<key_list_name> names;
  for (std::uint64_t l = 0; l < 3; ++l) {
    auto keys = ids(l * 100, 10);
    names.push_back(name_key_list(keys.data(), keys.size()));
    ASSERT_TRUE(cache.complete(names.back(), false, keys).ok());
  }
  std::vector<std::uint64_t> out;
  ASSERT_TRUE(cache.complete(names[0], true, out).ok());  // list 0 used: list 1 is the oldest
  auto fourth = ids(900, 10);
  const auto fourth_name = name_key_list(fourth.data(), fourth.size());
  ASSERT_TRUE(cache.complete(fourth_name, false, fourth).ok());
  EXPECT_EQ(cache.lists(), 3u);
  EXPECT_LE(cache.bytes(), 3 * list_bytes);
  EXPECT_EQ(cache.complete(names[1], true, out).code(), errc::unknown_key_list);
  EXPECT_TRUE(cache.complete(names[0], true, out).ok());
  EXPECT_TRUE(cache.complete(names[2], true, out).ok());
  EXPECT_TRUE(cache.complete(fourth_name, true, out).ok());
  // A list larger than the whole cache is served but not held.
  auto huge = ids(0, 3 * list_bytes / 8);
  const auto huge_name = name_key_list(huge.data(), huge.size());
  ASSERT_TRUE(cache.complete(huge_name, false, huge).ok());
  EXPECT_EQ(cache.complete(huge_name, true, out).code(), errc::unknown_key_list);
  EXPECT_EQ(cache.lists(), 3u);
}

class KeyCachingStore : public ::testing::Test {
 protected:
  void SetUp() override {
    spec.id = 5;
    spec.name = "emb";
    spec.kind = table_kind::sparse;
    spec.width = 2;
    spec.row_init_bound = 0.1f;
    spec.optimizer = {optimizer_kind::sgd, 0.5f};
    store.add_sparse(spec, 1);
    plain.add_sparse(spec, 1);
    keys = ids(40, 6);
    name = name_key_list(keys.data(), keys.size());
  }

  bytes push(bool full, std::uint64_t seq, float g) {
    auto w = push_writer::sparse({5, 1, 0, seq, 0, false, true}, full ? keys.data() : nullptr,
                                 keys.size(), 2, &name);
    for (std::size_t i = 0; i < w.count(); ++i) w.values()[i] = g * static_cast<float>(i + 1);
    return std::move(w).finish();
  }

  // Decodes, completes and applies, as the shard actor does.
  status apply(shard_store& s, const bytes& msg) {
    push_view v;
    if (auto st = decode_push(msg, v); !st) return st;
    if (auto st = s.complete_keys(v); !st) return st;
    push_ack ack;
    return s.apply_push(v, ack);
  }

  table_spec spec;
  shard_store store{0}, plain{0};
  std::vector<std::uint64_t> keys;
  key_list_name name;
};

// Each list costs its overhead too: a flood of one-id lists stays within
// the bound in memory, not just in ids.
TEST(KeyListCache, ManyTinyListsStayWithinTheBound) {
  const std::size_t bound = 100 * (8 + key_list_cache::entry_overhead_bytes);
  key_list_cache cache(bound);
  for (std::uint64_t i = 0; i < 1000; ++i) {
    std::vector<std::uint64_t> one{i};
    ASSERT_TRUE(cache.complete(name_key_list(one.data(), 1), false, one).ok());
  }
  EXPECT_EQ(cache.lists(), 100u);
  EXPECT_LE(cache.bytes(), bound);
}

TEST_F(KeyCachingStore, PushesAndPullsByNameDoWhatTheyWouldInFull) {
  // The same pushes: in full with the name then by name, against in full and unnamed.
  ASSERT_TRUE(apply(store, push(true, 1, 1.0f)).ok());
  ASSERT_TRUE(apply(store, push(false, 2, 2.0f)).ok());
  auto unnamed = [&](std::uint64_t seq, float g) {
    auto w = push_writer::sparse({5, 1, 0, seq, 0, false, true}, keys.data(), keys.size(), 2);
    for (std::size_t i = 0; i < w.count(); ++i) w.values()[i] = g * static_cast<float>(i + 1);
    return std::move(w).finish();
  };
  ASSERT_TRUE(apply(plain, unnamed(1, 1.0f)).ok());
  ASSERT_TRUE(apply(plain, unnamed(2, 2.0f)).ok());
  EXPECT_EQ(store.version(5), 2u);
  for (auto k : keys) {
    ASSERT_NE(store.sparse_row(5, k), nullptr);
    EXPECT_EQ(store.sparse_row(5, k)[0], plain.sparse_row(5, k)[0]);
    EXPECT_EQ(store.sparse_row(5, k)[1], plain.sparse_row(5, k)[1]);
  }

  pull_request_view req;
  ASSERT_TRUE(
      decode_pull_request(encode_sparse_pull(5, 1, nullptr, keys.size(), false, &name, true), req)
          .ok());
  ASSERT_TRUE(store.complete_keys(req).ok());
  bytes reply;
  ASSERT_TRUE(store.read_pull(req, reply).ok());
  pull_reply_view v;
  ASSERT_TRUE(decode_pull_reply(reply, v).ok());
  EXPECT_TRUE(v.keys.empty());
  ASSERT_EQ(v.rows(), keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(v.values[2 * i], store.sparse_row(5, keys[i])[0]);
    EXPECT_EQ(v.values[2 * i + 1], store.sparse_row(5, keys[i])[1]);
  }
  // The reply leaves out the 6 ids (48 bytes) and says how many there are (16).
  pull_request_view full_req;
  ASSERT_TRUE(
      decode_pull_request(encode_sparse_pull(5, 1, keys.data(), keys.size()), full_req).ok());
  bytes full_reply;
  ASSERT_TRUE(store.read_pull(full_req, full_reply).ok());
  EXPECT_EQ(full_reply.size(), reply.size() + keys.size() * 8 - 16);
}

TEST_F(KeyCachingStore, AnUnknownNameIsRefusedWithNothingAppliedAndTheSeqKept) {
  push_view v;
  const auto by_name = push(false, 1, 1.0f);
  ASSERT_TRUE(decode_push(by_name, v).ok());
  EXPECT_EQ(store.complete_keys(v).code(), errc::unknown_key_list);
  // Applying it regardless (a caller that skipped complete_keys) is refused too.
  push_ack ack;
  EXPECT_EQ(store.apply_push(v, ack).code(), errc::unknown_key_list);
  EXPECT_EQ(store.version(5), 0u);
  EXPECT_EQ(store.sparse_rows(5), 0u);
  // Sent again in full with the same seq: applied, not taken for a retry.
  push_view again;
  const auto full = push(true, 1, 1.0f);
  ASSERT_TRUE(decode_push(full, again).ok());
  ASSERT_TRUE(store.complete_keys(again).ok());
  ASSERT_TRUE(store.apply_push(again, ack).ok());
  EXPECT_FALSE(ack.duplicate);
  EXPECT_EQ(store.version(5), 1u);

  // A pull by name read without complete_keys: refused, no rows made.
  pull_request_view skipped;
  ASSERT_TRUE(decode_pull_request(
                  encode_sparse_pull(5, 1, nullptr, keys.size(), false, &name, true), skipped)
                  .ok());
  bytes nothing;
  const auto rows_before = store.sparse_rows(5);
  EXPECT_EQ(store.read_pull(skipped, nothing).code(), errc::unknown_key_list);
  EXPECT_EQ(store.sparse_rows(5), rows_before);

  // Lists for a table this shard does not serve are neither held nor used.
  pull_request_view elsewhere;
  ASSERT_TRUE(decode_pull_request(encode_sparse_pull(9, 1, keys.data(), keys.size(), false, &name),
                                  elsewhere)
                  .ok());
  const auto held = store.key_lists().lists();
  EXPECT_EQ(store.complete_keys(elsewhere).code(), errc::unknown_table);
  EXPECT_EQ(store.key_lists().lists(), held);

  // A name that counts other than the list held under its digest.
  auto miscounted = name;
  miscounted.count = 3;
  pull_request_view req;
  ASSERT_TRUE(
      decode_pull_request(encode_sparse_pull(5, 1, nullptr, 3, false, &miscounted), req).ok());
  EXPECT_EQ(store.complete_keys(req).code(), errc::wrong_size);
}

TEST_F(KeyCachingStore, APushInFullAgainForTheBackupCarriesIdsAndName) {
  ASSERT_TRUE(apply(store, push(true, 1, 1.0f)).ok());
  push_view v;
  const auto by_name = push(false, 2, 3.0f);
  ASSERT_TRUE(decode_push(by_name, v).ok());
  ASSERT_TRUE(store.complete_keys(v).ok());
  const auto again = encode_push_in_full(v);
  push_view w;
  ASSERT_TRUE(decode_push(again, w).ok());
  EXPECT_EQ(w.keys, keys);
  EXPECT_FALSE(w.keys_omitted);
  EXPECT_EQ(w.key_list, name);
  EXPECT_EQ(w.seq, 2u);
  EXPECT_TRUE(w.in_order);
  ASSERT_EQ(w.count, v.count);
  for (std::size_t i = 0; i < w.count; ++i) EXPECT_EQ(w.values[i], v.values[i]);
  // A backup that never saw the name takes it and holds it afterwards.
  shard_store backup{0};
  backup.add_sparse(spec, 1);
  ASSERT_TRUE(backup.complete_keys(w).ok());
  EXPECT_EQ(backup.key_lists().lists(), 1u);
}

}  // namespace
}  // namespace troupe
