// The same-host shared-memory transport (engine/wire/shared_memory.hpp):
// a message shared by one process is read, once and intact, by another; a
// full region, a message too large or an untaken slot behave as documented;
// forged or stale envelopes are errors, never a crash.
#include "engine/wire/shared_memory.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "engine/wire/wire_codec.hpp"

namespace troupe {
namespace {

bytes pattern(std::size_t n, unsigned seed) {
  bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<char>((i * 131 + seed) & 0xff);
  return b;
}

TEST(SharedMemory, MessageIsReadOnceAndIntact) {
  shared_memory shm;
  ASSERT_TRUE(shm.available().ok()) << shm.available().to_string();
  const auto msg = pattern(470 * 1024, 7);
  auto env = shm.share(msg);
  ASSERT_TRUE(env);
  EXPECT_TRUE(is_shared_envelope(*env));
  EXPECT_LT(env->size(), 200u);
  bytes out;
  ASSERT_TRUE(shm.take(*env, out).ok());
  EXPECT_EQ(out, msg);
  // The slot was freed: the same envelope names nothing any more.
  bytes again;
  const auto st = shm.take(*env, again);
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(again.empty());
  const auto c = shm.stats();
  EXPECT_EQ(c.shared, 1u);
  EXPECT_EQ(c.taken, 1u);
}

// A reader keeps a writer's region mapped (its touched pages resident) until
// it forgets its peers, as an idle node does, so that regions of processes
// that have died do not pile up across jobs; the next envelope maps it again.
TEST(SharedMemory, ForgottenPeersAreUnmappedAndMappedAgainWhenUsed) {
  shared_memory writer, reader;
  ASSERT_TRUE(writer.available().ok()) << writer.available().to_string();
  const auto msg = pattern(64 * 1024, 3);
  bytes out;
  auto env = writer.share(msg);
  ASSERT_TRUE(env);
  ASSERT_TRUE(reader.take(*env, out).ok());
  EXPECT_EQ(reader.peers_mapped(), 1u);
  EXPECT_EQ(reader.forget_peers(), 1u);
  EXPECT_EQ(reader.peers_mapped(), 0u);
  EXPECT_EQ(reader.forget_peers(), 0u);
  env = writer.share(msg);
  ASSERT_TRUE(env);
  out.clear();
  ASSERT_TRUE(reader.take(*env, out).ok());
  EXPECT_EQ(out, msg);
  EXPECT_EQ(reader.peers_mapped(), 1u);
}

// A message built in place in a slot (a shard's pull reply) reads back as
// built; a slot written but never published is free again once dropped.
TEST(SharedMemory, AMessageBuiltInASlotIsPublishedWithoutACopy) {
  shared_memory_limits one;
  one.slots = 1;
  shared_memory shm(one);
  ASSERT_TRUE(shm.available().ok()) << shm.available().to_string();
  {
    auto w = shm.begin_write();
    ASSERT_TRUE(w);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(w.data()) % 8, 0u);
    EXPECT_FALSE(shm.share(pattern(10, 1)));  // the only slot is being written
    EXPECT_FALSE(shm.begin_write());
  }  // dropped unpublished: free again
  auto w = shm.begin_write();
  ASSERT_TRUE(w);
  const auto msg = pattern(300 * 1024, 3);
  ASSERT_LE(msg.size(), w.capacity());
  std::memcpy(w.data(), msg.data(), msg.size());
  auto env = shm.publish(w, msg.size());
  ASSERT_TRUE(env);
  EXPECT_FALSE(w);                  // published: the reader frees it, not the writer
  EXPECT_FALSE(shm.begin_write());  // until then the slot is taken
  bytes out;
  ASSERT_TRUE(shm.take(*env, out).ok());
  EXPECT_EQ(out, msg);
  auto w2 = shm.begin_write();
  ASSERT_TRUE(w2);
  EXPECT_FALSE(shm.publish(w2, w2.capacity() + 1));  // more than fits: nothing, slot freed
  EXPECT_FALSE(shm.publish(w2, 10));                 // w2 is spent
  EXPECT_TRUE(shm.share(pattern(10, 2)));
}

TEST(SharedMemory, AClaimedSlotIsReadInPlaceAndCanBePassedOn) {
  shared_memory shm;
  const auto msg = pattern(5000, 9);
  auto env = shm.share(msg);
  ASSERT_TRUE(env);
  {
    shared_slot slot;
    ASSERT_TRUE(shm.claim(*env, slot).ok());
    ASSERT_EQ(slot.size(), msg.size());
    EXPECT_EQ(std::memcmp(slot.data(), msg.data(), msg.size()), 0);
    // While it is claimed nobody else gets it.
    bytes other;
    EXPECT_FALSE(shm.take(*env, other).ok());
    slot.pass_on();  // as a primary shard does for its backup
    EXPECT_FALSE(slot);
  }
  bytes out;
  ASSERT_TRUE(shm.take(*env, out).ok());  // the next reader, with the same envelope
  EXPECT_EQ(out, msg);
  EXPECT_FALSE(shm.take(*env, out).ok());  // and it freed the slot
  {
    auto again = shm.share(msg);
    ASSERT_TRUE(again);
    shared_slot slot;
    ASSERT_TRUE(shm.claim(*again, slot).ok());
  }  // destroyed unread: freed
  EXPECT_EQ(shm.stats().taken, 3u);
}

TEST(SharedMemory, OrdinaryMessagesAreNoEnvelopes) {
  EXPECT_FALSE(is_shared_envelope(encode_push_ack({3, 4, 1, false})));
  EXPECT_FALSE(is_shared_envelope(encode_dense_pull(1, 2, 0, 10)));
  EXPECT_FALSE(is_shared_envelope(bytes{}));
  bytes prefix_only(8, static_cast<char>(0xff));
  EXPECT_FALSE(is_shared_envelope(prefix_only));
}

TEST(SharedMemory, PullRequestsSayWhetherTheyAcceptEnvelopes) {
  pull_request_view v;
  ASSERT_TRUE(decode_pull_request(encode_dense_pull(1, 2, 0, 10, true), v).ok());
  EXPECT_TRUE(v.accept_shared);
  ASSERT_TRUE(decode_pull_request(encode_dense_pull(1, 2, 0, 10), v).ok());
  EXPECT_FALSE(v.accept_shared);
}

TEST(SharedMemory, AnotherProcessReadsWhatOneShared) {
  int to_parent[2];
  int to_child[2];
  ASSERT_EQ(pipe(to_parent), 0);
  ASSERT_EQ(pipe(to_child), 0);
  const auto msg = pattern(300000, 11);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The writer: shares the message, hands over the envelope, and stays
    // alive (its region dies with it) until the reader is done.
    close(to_parent[0]);
    close(to_child[1]);
    shared_memory shm;
    auto env = shm.share(msg);
    if (!env) _exit(3);
    const std::uint32_t n = static_cast<std::uint32_t>(env->size());
    if (write(to_parent[1], &n, 4) != 4 || write(to_parent[1], env->data(), n) != n) _exit(4);
    char done = 0;
    if (read(to_child[0], &done, 1) != 1) _exit(5);
    // The reader freed the slot: with one slot per process this would fail
    // otherwise.
    _exit(shm.stats().shared == 1 ? 0 : 6);
  }
  close(to_parent[1]);
  close(to_child[0]);
  std::uint32_t n = 0;
  ASSERT_EQ(read(to_parent[0], &n, 4), 4);
  bytes env(n);
  ASSERT_EQ(read(to_parent[0], env.data(), n), static_cast<ssize_t>(n));
  shared_memory reader;
  bytes out;
  const auto st = reader.take(env, out);
  EXPECT_TRUE(st.ok()) << st.to_string();
  EXPECT_EQ(out, msg);
  EXPECT_EQ(reader.stats().taken, 1u);
  ASSERT_EQ(write(to_child[1], "x", 1), 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  close(to_parent[0]);
  close(to_child[1]);
  // The writer is gone: its envelope is an error, not a crash.
  bytes late;
  EXPECT_FALSE(shared_memory{}.take(env, late).ok());
}

TEST(SharedMemory, FullRegionOrLargeMessageGoesInline) {
  shared_memory_limits limits;
  limits.slots = 2;
  limits.slot_bytes = 4096;
  shared_memory shm(limits);
  EXPECT_FALSE(shm.share(pattern(4097, 1)));  // larger than a slot
  auto a = shm.share(pattern(100, 1));
  auto b = shm.share(pattern(4096, 2));
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(shm.share(pattern(10, 3)));  // both slots in flight
  bytes out;
  ASSERT_TRUE(shm.take(*a, out).ok());
  EXPECT_EQ(out, pattern(100, 1));
  auto c = shm.share(pattern(10, 3));  // a's slot again
  ASSERT_TRUE(c);
  ASSERT_TRUE(shm.take(*b, out).ok());
  EXPECT_EQ(out, pattern(4096, 2));
  ASSERT_TRUE(shm.take(*c, out).ok());
  EXPECT_EQ(out, pattern(10, 3));
  EXPECT_EQ(shm.stats().inline_, 2u);
}

TEST(SharedMemory, UntakenSlotIsReclaimedAfterExpiry) {
  shared_memory_limits limits;
  limits.slots = 1;
  limits.expiry = std::chrono::milliseconds(20);
  shared_memory shm(limits);
  auto lost = shm.share(pattern(64, 1));  // its reader never comes
  ASSERT_TRUE(lost);
  EXPECT_FALSE(shm.share(pattern(64, 2)));  // not expired yet
  std::this_thread::sleep_for(std::chrono::milliseconds(40));
  auto next = shm.share(pattern(64, 3));
  ASSERT_TRUE(next);
  EXPECT_EQ(shm.stats().reclaimed, 1u);
  bytes out;
  EXPECT_FALSE(shm.take(*lost, out).ok());  // its slot holds another message
  ASSERT_TRUE(shm.take(*next, out).ok());
  EXPECT_EQ(out, pattern(64, 3));
}

// One slot, whose reader is looked for on every write.
shared_memory_limits one_slot_checked_at_once() {
  shared_memory_limits limits;
  limits.slots = 1;
  limits.reader_check = std::chrono::milliseconds(0);
  return limits;
}

TEST(SharedMemory, ASlotWhoseReaderDiedWhileReadingItIsTakenBack) {
  shared_memory shm(one_slot_checked_at_once());
  auto env = shm.share(pattern(4096, 5));
  ASSERT_TRUE(env);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // A worker killed mid-step: it claimed the slot to read it in place and
    // never frees it (no destructor runs after _exit).
    shared_memory reader;
    static shared_slot held;  // outlives the _exit below on purpose
    if (!reader.claim(*env, held).ok()) _exit(3);
    _exit(held.size() == 4096 ? 0 : 4);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  // The slot was claimed (its envelope is spent) and its reader is gone.
  bytes out;
  EXPECT_FALSE(shm.take(*env, out).ok());
  auto next = shm.share(pattern(64, 6));
  ASSERT_TRUE(next);
  EXPECT_EQ(shm.stats().reclaimed, 1u);
  ASSERT_TRUE(shm.take(*next, out).ok());
  EXPECT_EQ(out, pattern(64, 6));
}

TEST(SharedMemory, ASlotALiveReaderHoldsIsNotTakenBack) {
  shared_memory shm(one_slot_checked_at_once());
  auto env = shm.share(pattern(4096, 7));
  ASSERT_TRUE(env);
  shared_memory reader;
  shared_slot slot;
  ASSERT_TRUE(reader.claim(*env, slot).ok());
  // However long it reads, a living reader keeps its slot.
  EXPECT_FALSE(shm.share(pattern(64, 8)));
  EXPECT_EQ(shm.stats().reclaimed, 0u);
  EXPECT_EQ(bytes(slot.data(), slot.data() + slot.size()), pattern(4096, 7));
  slot = shared_slot{};  // read: freed
  EXPECT_TRUE(shm.share(pattern(64, 8)));
}

TEST(SharedMemory, DamagedEnvelopesAreErrors) {
  shared_memory shm;
  auto env = shm.share(pattern(1000, 5));
  ASSERT_TRUE(env);
  bytes out;
  for (std::size_t cut : {16u, 24u, 40u}) {
    bytes shorter(env->begin(), env->begin() + static_cast<std::ptrdiff_t>(cut));
    EXPECT_FALSE(shm.take(shorter, out).ok()) << cut;
  }
  // Every byte after the prefix flipped in turn: an error or the message
  // itself, never a crash or other bytes.
  for (std::size_t i = 8; i < env->size(); ++i) {
    bytes bad = *env;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    if (shm.take(bad, out).ok()) {
      EXPECT_EQ(out, pattern(1000, 5)) << i;
      env = shm.share(pattern(1000, 5));  // it was taken: share it again
      ASSERT_TRUE(env);
    }
  }
  ASSERT_TRUE(shm.take(*env, out).ok());
  EXPECT_EQ(out, pattern(1000, 5));
}

}  // namespace
}  // namespace troupe
