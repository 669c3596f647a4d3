// The shard actor: answers good requests, answers bad ones with typed
// errors, counts them, and keeps serving.
#include <gtest/gtest.h>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <filesystem>
#include <optional>
#include <thread>

#include <unistd.h>

#include "actors/actor_config.hpp"
#include "actors/metrics_exporter.hpp"
#include "actors/shard.hpp"
#include "engine/store/checkpoint.hpp"
#include "engine/store/shard_store.hpp"

namespace troupe {
namespace {

class ShardActor : public ::testing::Test {
 protected:
  ShardActor() : sys(cfg), self(sys) { shard = spawn_shard(sys, 0, {{model(), {0, 10}}}); }

  // Table 1, "model": 10 values, all zeros.
  static table_spec model(optimizer_kind kind = optimizer_kind::sgd, float lr = 1.0f) {
    table_spec spec;
    spec.id = 1;
    spec.name = "model";
    spec.size = 10;
    spec.init = {{10, 0.0f}};
    spec.optimizer = {kind, lr};
    return spec;
  }

  // All 10 values a shard holds.
  std::vector<float> values(const shard_actor& of) {
    std::vector<float> out;
    self->request(of, std::chrono::seconds(5), pull_atom::value, encode_dense_pull(1, 0, 0, 10))
        .receive(
            [&](const bytes& b) {
              pull_reply_view v;
              ASSERT_TRUE(decode_pull_reply(b, v).ok());
              out.assign(v.values, v.values + v.count);
            },
            [](caf::error& err) { FAIL() << describe(err); });
    return out;
  }

  // Returns the reply bytes, or the error.
  caf::expected<bytes> ask(bool push, bytes msg) { return ask_at(shard, push, std::move(msg)); }
  caf::expected<bytes> ask_at(const shard_actor& to, bool push, bytes msg) {
    caf::expected<bytes> out{bytes{}};
    auto handle_error = [&](caf::error& err) { out = std::move(err); };
    if (push) {
      self->request(to, std::chrono::seconds(5), push_atom::value, std::move(msg))
          .receive([&](const bytes& b) { out = b; }, handle_error);
    } else {
      self->request(to, std::chrono::seconds(5), pull_atom::value, std::move(msg))
          .receive([&](const bytes& b) { out = b; }, handle_error);
    }
    return out;
  }

  bytes push(std::uint64_t offset, std::size_t n, float v, std::uint64_t seq) {
    auto w = push_writer::dense({1, 0, 0, seq, 0}, offset, n);
    for (std::size_t i = 0; i < n; ++i) w.values()[i] = v;
    return std::move(w).finish();
  }

  actor_config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  shard_actor shard;
};

TEST_F(ShardActor, BadRequestsGetTypedErrorsAndTheShardKeepsServing) {
  auto garbage = ask(true, bytes(24, 'x'));
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().category(), troupe_error_category());
  EXPECT_EQ(static_cast<errc>(garbage.error().code()), errc::malformed_message);

  auto too_long = ask(true, push(5, 6, 1.0f, 1));
  ASSERT_FALSE(too_long);
  EXPECT_EQ(static_cast<errc>(too_long.error().code()), errc::out_of_range);
  EXPECT_NE(describe(too_long.error()).find("exceed the range"), std::string::npos);

  auto nan = ask(true, push(0, 10, std::nanf(""), 2));
  ASSERT_FALSE(nan);
  EXPECT_EQ(static_cast<errc>(nan.error().code()), errc::non_finite);

  auto ok = ask(true, push(0, 10, 0.5f, 3));
  ASSERT_TRUE(ok) << describe(ok.error());
  push_ack ack;
  ASSERT_TRUE(decode_push_ack(*ok, ack).ok());
  EXPECT_EQ(ack.seq, 3u);
  EXPECT_EQ(ack.shard_version, 1u);

  auto pulled = ask(false, encode_dense_pull(1, 0, 0, 10));
  ASSERT_TRUE(pulled);
  pull_reply_view v;
  ASSERT_TRUE(decode_pull_reply(*pulled, v).ok());
  ASSERT_EQ(v.count, 10u);
  for (std::size_t i = 0; i < 10; ++i) EXPECT_FLOAT_EQ(v.values[i], -0.5f);

  self->request(shard, std::chrono::seconds(5), stats_atom::value)
      .receive(
          [&](const shard_stats& s) {
            EXPECT_EQ(s.pushes_applied, 1u);
            EXPECT_EQ(s.pushes_rejected, 3u);
            EXPECT_EQ(s.pulls, 1u);
            EXPECT_EQ(s.version, 1u);
          },
          [&](caf::error& err) { FAIL() << describe(err); });
}

// A message outside the shard protocol, and an error message nobody asked
// for (a peer's bug), are ignored: CAF's default ends an actor on the
// latter. The shard, on either thread, keeps its values and serves.
TEST_F(ShardActor, StrayMessagesAndErrorsDoNotEndTheShard) {
  auto on_io = spawn_shard(sys, 1, {{model(), {0, 10}}}, {}, shard_thread::io);
  for (const auto& target : {shard, on_io}) {
    ASSERT_TRUE(ask_at(target, true, push(0, 10, 1.0f, 1))) << "first push";
    const auto untyped = caf::actor_cast<caf::actor>(target);
    self->send(untyped, std::string("not part of the protocol"), 42);
    self->send(untyped, caf::make_error(caf::sec::runtime_error, "a peer's stray error"));
    self->send(untyped, caf::make_error(caf::sec::request_timeout));
    EXPECT_EQ(values(target), std::vector<float>(10, -1.0f));
    EXPECT_TRUE(ask_at(target, true, push(0, 10, 1.0f, 2))) << "a push after them";
    EXPECT_EQ(values(target), std::vector<float>(10, -2.0f));
  }
  self->send_exit(on_io, caf::exit_reason::user_shutdown);
}

// A table its process cannot allocate (past a memory limit the machine's
// size does not show) ends the shard with out_of_memory as its reason,
// which its spawner reports (it died of CAF's "unhandled exception" after
// engine::start had said ok); the actor system still shuts down.
TEST_F(ShardActor, ATableItCannotAllocateEndsTheShardWithOutOfMemory) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "ASan aborts an allocation this size instead of throwing std::bad_alloc";
#endif
  auto spec = model();
  spec.size = std::uint64_t{1} << 42;  // 16 TiB of floats
  spec.init = {};
  auto huge = spawn_shard(sys, 7, {{spec, {0, spec.size}}});
  self->monitor(huge);
  caf::error reason;
  self->receive([&](caf::down_msg& dm) { reason = dm.reason; },
                caf::after(std::chrono::seconds(30)) >> [] { FAIL() << "no down message"; });
  EXPECT_EQ(static_cast<errc>(reason.code()), errc::out_of_memory) << describe(reason);
  EXPECT_NE(describe(reason).find("shard 7 cannot allocate its tables"), std::string::npos)
      << describe(reason);
}

TEST_F(ShardActor, PullOfAnUnknownTableIsAnError) {
  auto r = ask(false, encode_dense_pull(99, 0, 0, 1));
  ASSERT_FALSE(r);
  EXPECT_EQ(static_cast<errc>(r.error().code()), errc::unknown_table);
}

// A backup starts from its primary's snapshot: under Adam that includes the
// update count of every key, or its next updates would use other steps.
TEST_F(ShardActor, BackupTakesThePerKeyAdamCountsAndStaysIdentical) {
  const auto spec = model(optimizer_kind::adam, 0.1f);
  auto primary = spawn_shard(sys, 0, {{spec, {0, 10}}});
  auto backup = spawn_shard(sys, 0, {{spec, {0, 10}}});
  auto send = [&](const shard_actor& to, bytes msg) {
    self->request(to, std::chrono::seconds(5), push_atom::value, std::move(msg))
        .receive([](const bytes&) {}, [](caf::error& err) { FAIL() << describe(err); });
  };
  send(primary, push(0, 5, 0.5f, 1));  // keys 0..4 at step 1, the rest untouched
  self->request(primary, std::chrono::seconds(5), replica_atom::value,
                caf::actor_cast<caf::actor>(backup))
      .receive([](bool ok) { EXPECT_TRUE(ok); }, [](caf::error& err) { FAIL() << describe(err); });
  send(primary, push(0, 10, -0.3f, 2));  // forwarded: steps 2 and 1 in one push
  send(primary, push(5, 5, 0.2f, 3));
  const auto on_primary = values(primary);
  EXPECT_EQ(values(backup), on_primary);

  // What the keys must hold: each updated alone with its own count.
  const auto opt = make_optimizer(spec.optimizer);
  std::vector<float> w(10, 0.0f), state(20, 0.0f);
  std::vector<std::uint64_t> steps(10, 0);
  auto apply = [&](std::size_t from, std::size_t n, float g) {
    for (std::size_t k = from; k < from + n; ++k)
      opt->apply(&w[k], &g, 1, &state[k], 10, ++steps[k], 1.0f);
  };
  apply(0, 5, 0.5f);
  apply(0, 10, -0.3f);
  apply(5, 5, 0.2f);
  EXPECT_EQ(on_primary, w);
  // Pending request timeouts would otherwise keep both alive for minutes.
  self->send_exit(primary, caf::exit_reason::user_shutdown);
  self->send_exit(backup, caf::exit_reason::user_shutdown);
}

// A push saying its sender scanned it (PushRequest.checkedFinite) is still
// scanned when it comes from another process: the flag is anyone's to set.
TEST_F(ShardActor, AnotherProcesssWordThatItsPushIsFiniteIsNotTrusted) {
  auto port = sys.middleman().publish(shard, 0, "127.0.0.1");
  ASSERT_TRUE(port) << describe(port.error());
  caf::error refused;
  // Another CAF node, as a remote process is; on a thread of its own (CAF
  // 0.17 ties a thread to the last actor system it made).
  std::thread([&] {
    actor_config other_cfg;
    caf::actor_system other(other_cfg);
    auto remote = other.middleman().remote_actor<shard_actor>("127.0.0.1", *port);
    if (!remote) {
      refused = remote.error();
      return;
    }
    push_header h{1, 0, 0, 1, 0};
    h.checked_finite = true;
    auto w = push_writer::dense(h, 0, 10);
    for (std::size_t i = 0; i < 10; ++i) w.values()[i] = 1.0f;
    w.values()[2] = std::nanf("");
    caf::scoped_actor them{other};
    them->request(*remote, std::chrono::seconds(5), push_atom::value, std::move(w).finish())
        .receive([](const bytes&) {}, [&](caf::error& err) { refused = std::move(err); });
  }).join();
  ASSERT_TRUE(refused);
  EXPECT_EQ(static_cast<errc>(refused.code()), errc::non_finite) << describe(refused);
  EXPECT_EQ(values(shard), std::vector<float>(10, 0.0f));
  sys.middleman().unpublish(shard, *port);
  self->send_exit(shard, caf::exit_reason::user_shutdown);  // the middleman still knew it
}

// On the middleman's I/O thread (shard_thread::io) a shard is the same
// actor: it refuses what a scheduled one refuses, replicates to its backup,
// and ends up holding exactly what a scheduled shard given the same pushes
// holds.
TEST_F(ShardActor, OnTheNetworkThreadItAnswersAndReplicatesAlike) {
  const auto spec = model(optimizer_kind::adam, 0.1f);
  auto on_io = spawn_shard(sys, 0, {{spec, {0, 10}}}, {}, shard_thread::io);
  auto backup = spawn_shard(sys, 0, {{spec, {0, 10}}}, {}, shard_thread::io);
  auto scheduled = spawn_shard(sys, 0, {{spec, {0, 10}}});
  auto nan = ask_at(on_io, true, push(0, 10, std::nanf(""), 1));
  ASSERT_FALSE(nan);
  EXPECT_EQ(static_cast<errc>(nan.error().code()), errc::non_finite);
  self->request(on_io, std::chrono::seconds(5), replica_atom::value,
                caf::actor_cast<caf::actor>(backup))
      .receive([](bool ok) { EXPECT_TRUE(ok); }, [](caf::error& err) { FAIL() << describe(err); });
  for (const auto& to : {on_io, scheduled}) {
    ASSERT_TRUE(ask_at(to, true, push(0, 5, 0.5f, 1)));
    ASSERT_TRUE(ask_at(to, true, push(0, 10, -0.3f, 2)));
    ASSERT_TRUE(ask_at(to, true, push(5, 5, 0.2f, 3)));
  }
  const auto expected = values(scheduled);
  EXPECT_NE(expected, std::vector<float>(10, 0.0f));
  EXPECT_EQ(values(on_io), expected);
  EXPECT_EQ(values(backup), expected);
  self->request(on_io, std::chrono::seconds(5), stats_atom::value)
      .receive(
          [&](const shard_stats& s) {
            EXPECT_EQ(s.pushes_applied, 3u);
            EXPECT_EQ(s.pushes_rejected, 1u);
            EXPECT_EQ(s.version, 3u);
          },
          [&](caf::error& err) { FAIL() << describe(err); });
  for (const auto& a : {on_io, backup, scheduled})
    self->send_exit(a, caf::exit_reason::user_shutdown);
}

// With a backup, a worker that asks is told as soon as the primary applied
// its push (so its clock may advance), and the reply follows once the backup
// has the push too. Without a backup, or without asking, only the reply.
TEST_F(ShardActor, APrimaryWithABackupSaysAppliedBeforeItsBackupHasThePush) {
  auto primary = spawn_shard(sys, 3, {{model(), {0, 10}}});
  auto backup = spawn_shard(sys, 3, {{model(), {0, 10}}});
  auto notified_push = [&](std::uint64_t seq, bool notify) {
    auto w = push_writer::dense({1, 0, 0, seq, 0, notify}, 0, 10);
    for (std::size_t i = 0; i < 10; ++i) w.values()[i] = 1.0f;
    return std::move(w).finish();
  };
  // What arrives: the reply ("reply:SEQ"), which the blocking receive picks
  // first, then any notice ("applied:SEQ") waiting in the mailbox.
  auto exchange = [&](const shard_actor& to, bytes msg) {
    std::vector<std::string> seen;
    self->request(to, std::chrono::seconds(5), push_atom::value, std::move(msg))
        .receive(
            [&](const bytes& b) {
              push_ack ack;
              EXPECT_TRUE(decode_push_ack(b, ack).ok());
              seen.push_back("reply:" + std::to_string(ack.seq));
            },
            [](caf::error& err) { FAIL() << describe(err); });
    // A notice is sent before the reply: it is in the mailbox by now.
    while (self->has_next_message()) {
      self->receive([&](applied_atom, std::uint32_t shard, const bytes& b, const bytes& values) {
        EXPECT_EQ(shard, 3u);
        EXPECT_TRUE(values.empty());  // no pull asked for
        push_ack ack;
        EXPECT_TRUE(decode_push_ack(b, ack).ok());
        seen.push_back("applied:" + std::to_string(ack.seq));
      });
    }
    return seen;
  };
  using seen = std::vector<std::string>;
  EXPECT_EQ(exchange(primary, notified_push(1, true)), seen{"reply:1"});  // no backup yet
  self->request(primary, std::chrono::seconds(5), replica_atom::value,
                caf::actor_cast<caf::actor>(backup))
      .receive([](bool ok) { EXPECT_TRUE(ok); }, [](caf::error& err) { FAIL() << describe(err); });
  EXPECT_EQ(exchange(primary, notified_push(2, true)), (seen{"reply:2", "applied:2"}));
  EXPECT_EQ(exchange(primary, notified_push(3, false)), seen{"reply:3"});
  // A duplicate is acknowledged (and forwarded) like the original.
  EXPECT_EQ(exchange(primary, notified_push(2, true)), (seen{"reply:2", "applied:2"}));
  EXPECT_EQ(values(primary), std::vector<float>(10, -3.0f));  // pushes 1, 2, 3 once each
  EXPECT_EQ(values(backup), values(primary));
  self->send_exit(primary, caf::exit_reason::user_shutdown);
  self->send_exit(backup, caf::exit_reason::user_shutdown);
}

// A push that asks for its range's values afterwards (PushRequest.pullAfter)
// gets them with the notice of a primary with a backup: the values with
// this push applied, as a pull would have returned them, and the pull is
// counted. Without a backup there is no notice, and the worker pulls itself.
TEST_F(ShardActor, APushThatAsksForItsValuesGetsThemWithTheNotice) {
  auto primary = spawn_shard(sys, 2, {{model(), {0, 10}}});
  auto backup = spawn_shard(sys, 2, {{model(), {0, 10}}});
  auto push_then_pull = [&](std::uint64_t seq, std::uint64_t offset, std::size_t n, float g) {
    push_header h{1, 0, 0, seq, 0, true, true};
    h.pull_after = push_header::pull_after_kind::bytes;
    auto w = push_writer::dense(h, offset, n);
    for (std::size_t i = 0; i < n; ++i) w.values()[i] = g;
    return std::move(w).finish();
  };
  // The reply, then the values that came with a notice (nothing: no notice).
  auto exchange = [&](bytes msg) {
    std::optional<std::vector<float>> pulled;
    self->request(primary, std::chrono::seconds(5), push_atom::value, std::move(msg))
        .receive([](const bytes&) {}, [](caf::error& err) { FAIL() << describe(err); });
    while (self->has_next_message()) {
      self->receive([&](applied_atom, std::uint32_t, const bytes&, const bytes& values) {
        pull_reply_view v;
        ASSERT_TRUE(decode_pull_reply(values, v).ok());
        EXPECT_EQ(v.table, 1u);
        pulled.emplace(v.values, v.values + v.count);
      });
    }
    return pulled;
  };
  auto pulls = [&] {
    std::uint64_t n = 0;
    self->request(primary, std::chrono::seconds(5), stats_atom::value)
        .receive([&](const shard_stats& s) { n = s.pulls; },
                 [](caf::error& err) { FAIL() << describe(err); });
    return n;
  };
  EXPECT_EQ(exchange(push_then_pull(1, 0, 10, 1.0f)), std::nullopt);  // no backup yet
  EXPECT_EQ(pulls(), 0u);
  self->request(primary, std::chrono::seconds(5), replica_atom::value,
                caf::actor_cast<caf::actor>(backup))
      .receive([](bool ok) { EXPECT_TRUE(ok); }, [](caf::error& err) { FAIL() << describe(err); });
  // lr 1: 0 - 1 - 2 = -3 for every key, this push included.
  EXPECT_EQ(exchange(push_then_pull(2, 0, 10, 2.0f)), std::vector<float>(10, -3.0f));
  EXPECT_EQ(pulls(), 1u);
  // Only the push's own range comes back.
  EXPECT_EQ(exchange(push_then_pull(3, 4, 3, 1.0f)), std::vector<float>(3, -4.0f));
  EXPECT_EQ(pulls(), 2u);
  // A push that asks for no notice gets no values either (a service client's).
  push_header quiet{1, 0, 0, 4, 0, false, true};
  quiet.pull_after = push_header::pull_after_kind::bytes;
  auto w = push_writer::dense(quiet, 0, 10);
  for (std::size_t i = 0; i < 10; ++i) w.values()[i] = 0.0f;
  EXPECT_EQ(exchange(std::move(w).finish()), std::nullopt);
  EXPECT_EQ(pulls(), 2u);
  EXPECT_EQ(values(backup), values(primary));
  self->send_exit(primary, caf::exit_reason::user_shutdown);
  self->send_exit(backup, caf::exit_reason::user_shutdown);
}

// A shard restored from a checkpoint (which lacks the pushes since) lets
// each worker skip seqs once, and so must a backup made from it: promoted,
// it takes a worker's resent pushes from past the checkpoint's count. A
// backup of a primary that holds every push stays strict.
TEST_F(ShardActor, ABackupOfAShardRestoredFromACheckpointLetsWorkersSkipOnceToo) {
  auto ordered = [](std::uint64_t seq) {
    auto w = push_writer::dense({1, 0, 0, seq, 0, false, true}, 0, 10);
    for (std::size_t i = 0; i < 10; ++i) w.values()[i] = 1.0f;
    return std::move(w).finish();
  };
  auto push_to = [&](const shard_actor& to, bytes msg) {
    caf::expected<bytes> out{bytes{}};
    self->request(to, std::chrono::seconds(5), push_atom::value, std::move(msg))
        .receive([&](const bytes& b) { out = b; }, [&](caf::error& err) { out = std::move(err); });
    return out;
  };
  auto attach = [&](const shard_actor& primary, const shard_actor& backup) {
    self->request(primary, std::chrono::seconds(5), replica_atom::value,
                  caf::actor_cast<caf::actor>(backup))
        .receive([](bool ok) { EXPECT_TRUE(ok); },
                 [](caf::error& err) { FAIL() << describe(err); });
  };
  // The checkpoint: worker 0's pushes 1 and 2.
  shard_store saved(3);
  saved.add_dense(model(), {0, 10});
  push_ack ack;
  for (std::uint64_t seq = 1; seq <= 2; ++seq) {
    const auto msg = ordered(seq);
    push_view v;
    ASSERT_TRUE(decode_push(msg, v).ok());
    ASSERT_TRUE(saved.apply_push(v, ack).ok());
  }
  const auto file = encode_checkpoint({"job", 3, 2}, saved.snapshot());
  auto restored = spawn_shard(sys, 3, {{model(), {0, 10}}});
  self->request(restored, std::chrono::seconds(5), restore_atom::value,
                bytes(file.begin(), file.end()), true)
      .receive([](std::uint64_t version) { EXPECT_EQ(version, 2u); },
               [](caf::error& err) { FAIL() << describe(err); });
  auto backup = spawn_shard(sys, 3, {{model(), {0, 10}}});
  attach(restored, backup);
  // Pushes 3 to 6 were lost with the checkpoint's shard; 7 comes next.
  EXPECT_TRUE(push_to(backup, ordered(7)));
  const auto gap = push_to(backup, ordered(9));
  ASSERT_FALSE(gap);
  EXPECT_EQ(static_cast<errc>(gap.error().code()), errc::out_of_order);

  auto whole = spawn_shard(sys, 3, {{model(), {0, 10}}});
  for (std::uint64_t seq = 1; seq <= 2; ++seq) ASSERT_TRUE(push_to(whole, ordered(seq)));
  auto strict = spawn_shard(sys, 3, {{model(), {0, 10}}});
  attach(whole, strict);
  const auto skip = push_to(strict, ordered(4));
  ASSERT_FALSE(skip);
  EXPECT_EQ(static_cast<errc>(skip.error().code()), errc::out_of_order);
  EXPECT_TRUE(push_to(strict, ordered(3)));
  for (const auto& a : {restored, backup, whole, strict}) {
    self->send_exit(a, caf::exit_reason::user_shutdown);
  }
}

// keep_best: the checkpoint of an evaluation round holds each table as the
// evaluator's pull of it read it, not the state the shard moved on to while
// the scores were computed; asked again (or for another round), the shard
// writes its current state.
TEST_F(ShardActor, ABestCheckpointHoldsTheStateTheEvaluationRead) {
  auto bias = model();
  bias.id = 2;
  bias.name = "bias";
  bias.size = 4;
  bias.init = {{4, 0.0f}};
  auto s = spawn_shard(sys, 0, {{model(), {0, 10}}, {bias, {0, 4}}});
  std::uint64_t seq = 0;
  auto push_one = [&](std::uint32_t table, std::uint64_t n) {
    auto w = push_writer::dense({table, 0, 0, ++seq, 0}, 0, n);
    for (std::size_t i = 0; i < n; ++i) w.values()[i] = 1.0f;  // sgd, rate 1: each value -1
    ASSERT_TRUE(ask_at(s, true, std::move(w).finish()));
  };
  constexpr std::uint32_t evaluator = 0xffffffffu;
  push_one(1, 10);
  ASSERT_TRUE(ask_at(s, false, encode_dense_pull(1, evaluator, 0, 10, false, 5)));  // -1
  push_one(1, 10);
  push_one(2, 4);
  ASSERT_TRUE(ask_at(s, false, encode_dense_pull(2, evaluator, 0, 4, false, 5)));  // -1
  push_one(2, 4);
  push_one(1, 10);  // now -3 and -2

  const auto dir =
      (std::filesystem::temp_directory_path() / ("troupe_best_hold_" + std::to_string(::getpid())))
          .string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto written = [&](std::int64_t clock, std::uint64_t round) {
    std::vector<std::vector<float>> out;
    self->request(s, std::chrono::seconds(5), checkpoint_atom::value, dir, std::string("job"),
                  clock, round)
        .receive(
            [&](const std::string& path) {
              checkpoint ck;
              ASSERT_TRUE(read_checkpoint(path, ck).ok());
              for (const auto& slice : ck.snapshot.dense) out.push_back(slice.values);
            },
            [](caf::error& err) { FAIL() << describe(err); });
    return out;
  };
  const std::vector<std::vector<float>> held{std::vector<float>(10, -1.0f),
                                             std::vector<float>(4, -1.0f)};
  const std::vector<std::vector<float>> current{std::vector<float>(10, -3.0f),
                                                std::vector<float>(4, -2.0f)};
  EXPECT_EQ(written(1, 5), held);
  EXPECT_EQ(written(2, 5), current);  // written once, then let go
  // Round 6 reads table 1 only; the copy holds table 2 as of that pull too.
  ASSERT_TRUE(ask_at(s, false, encode_dense_pull(1, evaluator, 0, 10, false, 6)));
  push_one(1, 10);
  const std::vector<std::vector<float>> now{std::vector<float>(10, -4.0f),
                                            std::vector<float>(4, -2.0f)};
  EXPECT_EQ(written(3, 7), now);      // a round it does not hold
  EXPECT_EQ(written(4, 0), now);      // a periodic checkpoint
  EXPECT_EQ(written(5, 6), current);  // round 6, still held
  std::filesystem::remove_all(dir);
  self->send_exit(s, caf::exit_reason::user_shutdown);
}

// keep_best with a backup: the primary lost after the evaluation's pulls
// and before the checkpoint leaves the backup to write the best model. The
// backup holds the state those pulls read, not the one it moved on to.
TEST_F(ShardActor, APromotedBackupWritesTheStateTheEvaluationRead) {
  auto primary = spawn_shard(sys, 0, {{model(), {0, 10}}});
  auto backup = spawn_shard(sys, 0, {{model(), {0, 10}}});
  self->request(primary, std::chrono::seconds(5), replica_atom::value,
                caf::actor_cast<caf::actor>(backup))
      .receive([](bool ok) { EXPECT_TRUE(ok); }, [](caf::error& err) { FAIL() << describe(err); });
  ASSERT_TRUE(ask_at(primary, true, push(0, 10, 1.0f, 1)));  // sgd, rate 1: -1
  constexpr std::uint32_t evaluator = 0xffffffffu;
  ASSERT_TRUE(ask_at(primary, false, encode_dense_pull(1, evaluator, 0, 10, false, 9)));
  ASSERT_TRUE(ask_at(primary, true, push(0, 10, 1.0f, 2)));  // -2, on both copies
  ASSERT_EQ(values(backup), std::vector<float>(10, -2.0f));
  self->send_exit(primary, caf::exit_reason::user_shutdown);

  const auto dir = (std::filesystem::temp_directory_path() /
                    ("troupe_best_backup_" + std::to_string(::getpid())))
                       .string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::vector<float> written;
  self->request(backup, std::chrono::seconds(5), checkpoint_atom::value, dir, std::string("job"),
                std::int64_t{1}, std::uint64_t{9})
      .receive(
          [&](const std::string& path) {
            checkpoint ck;
            ASSERT_TRUE(read_checkpoint(path, ck).ok());
            ASSERT_EQ(ck.snapshot.dense.size(), 1u);
            written = ck.snapshot.dense[0].values;
          },
          [](caf::error& err) { FAIL() << describe(err); });
  EXPECT_EQ(written, std::vector<float>(10, -1.0f));
  std::filesystem::remove_all(dir);
  self->send_exit(backup, caf::exit_reason::user_shutdown);
}

// A backup attached in the middle of an evaluation round missed its first
// hold: it is told of none of that round's, so that it never holds a mix of
// the round's reads and later state (a checkpoint of that round then writes
// its current state, and says so); the next round it holds again.
TEST_F(ShardActor, ABackupAttachedMidRoundHoldsNothingOfThatRound) {
  auto primary = spawn_shard(sys, 0, {{model(), {0, 10}}});
  auto backup = spawn_shard(sys, 0, {{model(), {0, 10}}});
  constexpr std::uint32_t evaluator = 0xffffffffu;
  ASSERT_TRUE(ask_at(primary, false, encode_dense_pull(1, evaluator, 0, 10, false, 4)));
  self->request(primary, std::chrono::seconds(5), replica_atom::value,
                caf::actor_cast<caf::actor>(backup))
      .receive([](bool ok) { EXPECT_TRUE(ok); }, [](caf::error& err) { FAIL() << describe(err); });
  ASSERT_TRUE(ask_at(primary, true, push(0, 10, 1.0f, 1)));  // -1 on both
  ASSERT_TRUE(ask_at(primary, false, encode_dense_pull(1, evaluator, 0, 10, false, 4)));
  ASSERT_TRUE(ask_at(primary, false, encode_dense_pull(1, evaluator, 0, 10, false, 5)));
  ASSERT_TRUE(ask_at(primary, true, push(0, 10, 1.0f, 2)));  // -2 on both
  ASSERT_EQ(values(backup), std::vector<float>(10, -2.0f));
  const auto dir = (std::filesystem::temp_directory_path() /
                    ("troupe_best_midround_" + std::to_string(::getpid())))
                       .string();
  std::filesystem::remove_all(dir);
  auto written = [&](std::int64_t clock, std::uint64_t round) {
    std::vector<float> out;
    self->request(backup, std::chrono::seconds(5), checkpoint_atom::value, dir, std::string("job"),
                  clock, round)
        .receive(
            [&](const std::string& path) {
              checkpoint ck;
              ASSERT_TRUE(read_checkpoint(path, ck).ok());
              out = ck.snapshot.dense.at(0).values;
            },
            [](caf::error& err) { FAIL() << describe(err); });
    return out;
  };
  EXPECT_EQ(written(1, 4), std::vector<float>(10, -2.0f));  // round 4: not held, current
  EXPECT_EQ(written(2, 5), std::vector<float>(10, -1.0f));  // round 5: as it was read
  std::filesystem::remove_all(dir);
  self->send_exit(primary, caf::exit_reason::user_shutdown);
  self->send_exit(backup, caf::exit_reason::user_shutdown);
}

}  // namespace
}  // namespace troupe

namespace troupe {
namespace {

// Key caching through the actor: a push by name reaches a backup with its
// ids in full, so the backup stays identical and, promoted, answers the same
// name; a name a shard does not hold is refused unapplied with a typed error
// (the sender sends the ids again), and is not counted as a bad request.
TEST_F(ShardActor, PushesByKeyListNameReachTheBackupInFull) {
  table_spec spec;
  spec.id = 2;
  spec.name = "emb";
  spec.kind = table_kind::sparse;
  spec.width = 2;
  spec.optimizer = {optimizer_kind::sgd, 1.0f};
  shard_table t;
  t.spec = spec;
  t.shards = 1;
  auto metrics = std::make_shared<metrics_exporter>();
  host_context counted;
  counted.metrics = metrics;
  auto primary = spawn_shard(sys, 0, {t}, counted);
  auto backup = spawn_shard(sys, 0, {t});
  const std::vector<std::uint64_t> keys{3, 17, 99};
  const auto name = name_key_list(keys.data(), keys.size());
  auto push_rows = [&](bool full, std::uint64_t seq, float g) {
    auto w = push_writer::sparse({2, 1, 0, seq, 0, false, true}, full ? keys.data() : nullptr,
                                 keys.size(), 2, &name);
    for (std::size_t i = 0; i < w.count(); ++i) w.values()[i] = g;
    return std::move(w).finish();
  };
  auto rows_of = [&](const shard_actor& from) {
    auto r = ask_at(from, false, encode_sparse_pull(2, 0, keys.data(), keys.size()));
    std::vector<float> out;
    if (!r) return out;
    pull_reply_view v;
    EXPECT_TRUE(decode_pull_reply(*r, v).ok());
    out.assign(v.values, v.values + v.count);
    return out;
  };

  // Not held yet: refused, nothing applied, not a rejected push.
  auto refused = ask_at(primary, true, push_rows(false, 1, 1.0f));
  ASSERT_FALSE(refused);
  EXPECT_EQ(static_cast<errc>(refused.error().code()), errc::unknown_key_list);
  ASSERT_TRUE(ask_at(primary, true, push_rows(true, 1, 1.0f)));  // the same seq, in full
  self->request(primary, std::chrono::seconds(5), replica_atom::value,
                caf::actor_cast<caf::actor>(backup))
      .receive([](bool ok) { EXPECT_TRUE(ok); }, [](caf::error& err) { FAIL() << describe(err); });
  auto by_name = ask_at(primary, true, push_rows(false, 2, 0.5f));
  ASSERT_TRUE(by_name) << describe(by_name.error());
  ASSERT_TRUE(ask_at(primary, true, push_rows(false, 2, 0.5f)));  // a retry: a duplicate, forwarded
  const auto on_primary = rows_of(primary);
  ASSERT_EQ(on_primary.size(), 6u);
  EXPECT_EQ(rows_of(backup), on_primary);
  self->request(primary, std::chrono::seconds(5), stats_atom::value)
      .receive(
          [&](const shard_stats& s) {
            EXPECT_EQ(s.pushes_applied, 2u);
            EXPECT_EQ(s.pushes_duplicate, 1u);
            EXPECT_EQ(s.pushes_rejected, 0u);
          },
          [&](caf::error& err) { FAIL() << describe(err); });

  // The node's counters: two pushes by name, one refusal.
  const auto page = metrics->render();
  EXPECT_NE(page.find("troupe_requests_by_key_list_total 2"), std::string::npos) << page;
  EXPECT_NE(page.find("troupe_key_lists_refused_total 1"), std::string::npos) << page;

  // The backup, promoted, holds the name from the forwarded push.
  auto pulled =
      ask_at(backup, false, encode_sparse_pull(2, 1, nullptr, keys.size(), false, &name, true));
  ASSERT_TRUE(pulled) << describe(pulled.error());
  pull_reply_view v;
  ASSERT_TRUE(decode_pull_reply(*pulled, v).ok());
  EXPECT_TRUE(v.keys_omitted);
  EXPECT_EQ(std::vector<float>(v.values, v.values + v.count), on_primary);
  self->send_exit(primary, caf::exit_reason::user_shutdown);
  self->send_exit(backup, caf::exit_reason::user_shutdown);
}

}  // namespace
}  // namespace troupe
