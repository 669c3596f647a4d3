// Pipeline stage actors refusing bad input: a stage that gets malformed
// activations reports `fail` to its scheduler (here a test observer), the
// links end the rest of its chain, and the actor system shuts down. The test
// runs on its own thread under a deadline, so a stage that outlives its
// chain (the system's destructor then waits for it forever) fails the suite
// instead of hanging it.
#include <gtest/gtest.h>
#include <caf/all.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <random>

#include "actors/actor_config.hpp"
#include "actors/shard.hpp"
#include "actors/stage_actor.hpp"
#include "engine/errors.hpp"
#include "engine/wire/pipeline_codec.hpp"

namespace troupe {
namespace {

std::shared_ptr<const workload_data> tiny_data() {
  dataset d;
  d.rows = 64;
  d.cols = 6;
  d.classes = 3;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (std::size_t i = 0; i < d.rows; ++i) {
    d.labels.push_back(static_cast<int>(i % 3));
    for (std::size_t c = 0; c < d.cols; ++c) d.features.push_back(u(rng));
  }
  auto data = std::make_shared<workload_data>();
  data->dense_train = std::make_shared<const dataset>(d);
  data->dense_test = data->dense_train;
  return data;
}

job_config tiny_job() {
  auto job = default_job_config();
  job.model.sizes = {6, 8, 3};
  job.stages = 2;
  job.micro_batches = 2;
  job.workers = 1;
  job.shards = 1;
  job.batch = 8;
  job.backend = kernels::backend_kind::cpu;
  return job;
}

// Runs `body` on its own thread and waits at most `limit`; on a timeout the
// process leaves at once so that a hang fails the suite instead of stalling
// it. The thread owns the whole actor system: CAF 0.17.6 hangs when an
// actor_system is destroyed on a thread other than the one that built it.
void within(std::chrono::seconds limit, std::function<void()> body) {
  auto done = std::async(std::launch::async, std::move(body));
  if (done.wait_for(limit) == std::future_status::ready) return done.get();
  std::fprintf(stderr, "FAILED: did not finish (and shut down its actor system) within %llds\n",
               static_cast<long long>(limit.count()));
  std::fflush(stderr);
  std::_Exit(1);
}

// Spawns a wired chain of the job's stages (observer as their scheduler),
// sends malformed activations to stage `target` and checks what follows.
void bad_activations_end_the_chain(std::uint32_t target) {
  actor_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor observer{sys};
  const auto job = tiny_job();
  std::vector<shard_table> tables;  // one shard owns every key
  for (const auto& t : workload_tables(job)) tables.push_back({t, {0, t.size}, 1});
  auto shard = spawn_shard(sys, 0, tables);
  std::vector<stage_actor> chain;
  for (std::uint32_t s = 0; s < job.stages; ++s) {
    worker_config w;
    w.job = job;
    chain.push_back(
        spawn_stage(sys, {s, w}, tiny_data(), {shard}, caf::actor_cast<scheduler_actor>(observer)));
    observer->monitor(chain.back());
  }
  wire_stages(chain, caf::actor_cast<caf::actor>(observer));
  observer->send(chain[target], fwd_atom::value, bytes(40, 'x'));

  std::string why;
  observer->receive([&](fail_atom, std::uint32_t, const std::string& w) { why = w; },
                    caf::after(std::chrono::seconds(10)) >> [] {});
  EXPECT_NE(why.find("stage " + std::to_string(target) + ": bad activations"), std::string::npos)
      << "no fail message; got '" << why << "'";
  // Every stage of the chain ends (the links carry the failure along).
  std::size_t down = 0;
  for (std::size_t i = 0; i < chain.size(); ++i) {
    observer->receive([&](const caf::down_msg&) { ++down; },
                      caf::after(std::chrono::seconds(10)) >> [] {});
  }
  EXPECT_EQ(down, chain.size());
  observer->send_exit(shard, caf::exit_reason::user_shutdown);
}

// A shard in front of `real` that never answers the first push it gets (a
// primary whose backup is slow acknowledges it after the request timeout);
// everything else goes to `real`.
shard_actor::behavior_type sluggish_shard(shard_actor::pointer self, shard_actor real,
                                          std::shared_ptr<std::atomic<int>> pushes) {
  return {
      [=](push_atom a, bytes& b) -> caf::result<bytes> {
        if (pushes->fetch_add(1) == 0) {
          // Kept, never delivered: answered (broken) only when this ends.
          auto kept = std::make_shared<caf::typed_response_promise<bytes>>(
              self->make_response_promise<bytes>());
          self->attach_functor([kept] {});
          return *kept;
        }
        return self->delegate(real, a, std::move(b));
      },
      [=](pull_atom a, bytes& b) -> caf::result<bytes> {
        return self->delegate(real, a, std::move(b));
      },
      [=](stats_atom a) -> caf::result<shard_stats> { return self->delegate(real, a); },
      [=](checkpoint_atom a, std::string& d, std::string& n, std::int64_t c,
          std::uint64_t r) -> caf::result<std::string> {
        return self->delegate(real, a, std::move(d), std::move(n), c, r);
      },
      [=](restore_atom a, bytes& b, bool keep) -> caf::result<std::uint64_t> {
        return self->delegate(real, a, std::move(b), keep);
      },
      [=](replica_atom a, caf::actor& backup) -> caf::result<bool> {
        return self->delegate(real, a, std::move(backup));
      },
      [=](hold_atom a, std::uint32_t table, std::uint64_t round) {
        self->send(real, a, table, round);
      },
  };
}

// Spawns and wires a chain of `w.job`'s stages on one shard, with
// `observer` as their scheduler, and starts its head.
std::vector<stage_actor> start_chain(caf::actor_system& sys, const worker_config& w,
                                     const shard_actor& shard, caf::scoped_actor& observer) {
  std::vector<stage_actor> chain;
  for (std::uint32_t s = 0; s < w.job.stages; ++s) {
    chain.push_back(
        spawn_stage(sys, {s, w}, tiny_data(), {shard}, caf::actor_cast<scheduler_actor>(observer)));
  }
  wire_stages(chain, caf::actor_cast<caf::actor>(observer));
  observer->send(chain[0], start_atom::value);
  return chain;
}

// A push whose acknowledgement comes after the stage's request timeout (its
// primary waits for a slow backup) is asked again, by its seq, rather than
// taken for a lost link: with replication the stage would otherwise wait for
// a re-point that never comes, and the pipeline would hang.
void a_timed_out_push_is_asked_again() {
  actor_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor observer{sys};
  auto job = tiny_job();
  job.replication = 2;  // a timeout would wait for a re-point
  std::vector<shard_table> tables;
  for (const auto& t : workload_tables(job)) tables.push_back({t, {0, t.size}, 1});
  auto real = spawn_shard(sys, 0, tables);
  auto pushes = std::make_shared<std::atomic<int>>(0);
  auto shard = sys.spawn(sluggish_shard, real, pushes);
  worker_config w;
  w.job = job;
  w.request_timeout = std::chrono::milliseconds(200);
  const auto chain = start_chain(sys, w, shard, observer);
  // The head asks for its clock before each step: answered at once (the only
  // replica is the slowest) until it has finished two steps.
  std::int64_t reached = -1;
  bool stalled = false;
  while (reached < 2 && !stalled) {
    observer->receive(
        [&](clock_atom, const bytes& advance) -> std::int64_t {
          clock_advance a;
          EXPECT_TRUE(decode_clock_advance(advance, a).ok());
          reached = a.clock;
          return a.clock;
        },
        [&](fail_atom, std::uint32_t, const std::string& why) {
          ADD_FAILURE() << "the stage failed: " << why;
          stalled = true;
        },
        [](progress_atom, const worker_progress&) {},
        caf::after(std::chrono::seconds(10)) >> [&] { stalled = true; });
  }
  EXPECT_FALSE(stalled) << "the pipeline stopped at clock " << reached;
  EXPECT_GE(reached, 2);
  // Each of the two stages pushes its slice once a step: step 0's first
  // push (never answered) asked again, then the rest of steps 0 and 1; the
  // head waits for clock 2 meanwhile, so nothing more.
  EXPECT_EQ(pushes->load(), 5);
  shard_stats got;
  observer->request(real, std::chrono::seconds(5), stats_atom::value)
      .receive([&](const shard_stats& s) { got = s; },
               [&](caf::error& err) { ADD_FAILURE() << sys.render(err); });
  EXPECT_EQ(got.pushes_applied, 4u);
  EXPECT_EQ(got.pushes_duplicate, 0u);
  for (const auto& s : chain) observer->send_exit(s, caf::exit_reason::user_shutdown);
  observer->send_exit(shard, caf::exit_reason::user_shutdown);
  observer->send_exit(real, caf::exit_reason::user_shutdown);
}

TEST(StageActorExchange, APushAnsweredAfterTheRequestTimeoutIsAskedAgain) {
  within(std::chrono::seconds(60), [] { a_timed_out_push_is_asked_again(); });
}

// A shard that is there but never answers (the link to its node lost while
// the scheduler still reaches it: no re-point comes). Once its retries are
// spent the stage waits for a backup, and nothing of it is left outstanding
// to fail again: it waited for ever, and the pipeline hung. Its own tick now
// ends the wait at the clock timeout, with why.
// (`unused`: CAF 0.17 dereferences a null argument tuple when a function is
// spawned with no argument; UBSan stops there.)
shard_actor::behavior_type mute_shard(shard_actor::pointer self, int /*unused*/) {
  auto keep = [self](auto promise) {
    auto kept = std::make_shared<decltype(promise)>(std::move(promise));
    self->attach_functor([kept] {});
    return *kept;
  };
  return {
      [=](push_atom, bytes&) -> caf::result<bytes> {
        return keep(self->make_response_promise<bytes>());
      },
      [=](pull_atom, bytes&) -> caf::result<bytes> {
        return keep(self->make_response_promise<bytes>());
      },
      [=](stats_atom) -> caf::result<shard_stats> { return shard_stats{}; },
      [=](checkpoint_atom, std::string&, std::string&, std::int64_t,
          std::uint64_t) -> caf::result<std::string> { return std::string{}; },
      [=](restore_atom, bytes&, bool) -> caf::result<std::uint64_t> { return std::uint64_t{0}; },
      [=](replica_atom, caf::actor&) -> caf::result<bool> { return false; },
      [=](hold_atom, std::uint32_t, std::uint64_t) {},
  };
}

void a_stage_waiting_for_a_backup_that_never_comes_fails_at_its_limit() {
  actor_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor observer{sys};
  auto job = tiny_job();
  job.replication = 2;  // a lost link waits for a re-point
  auto shard = sys.spawn(mute_shard, 0);
  worker_config w;
  w.job = job;
  w.request_timeout = std::chrono::milliseconds(100);
  w.clock_timeout = std::chrono::milliseconds(1500);  // the wait's limit
  const auto chain = start_chain(sys, w, shard, observer);
  std::string why;
  bool silent = false;
  while (why.empty() && !silent) {
    observer->receive([&](clock_atom, const bytes&) -> std::int64_t { return 0; },
                      [&](fail_atom, std::uint32_t, const std::string& w) { why = w; },
                      [](progress_atom, const worker_progress&) {},
                      caf::after(std::chrono::seconds(20)) >> [&] { silent = true; });
  }
  EXPECT_FALSE(silent) << "the stage waited past its limit without a word";
  EXPECT_NE(why.find("no backup took over within 1500 ms"), std::string::npos) << why;
  for (const auto& s : chain) observer->send_exit(s, caf::exit_reason::user_shutdown);
  observer->send_exit(shard, caf::exit_reason::user_shutdown);
}

TEST(StageActorExchange, AWaitForABackupThatNeverComesEndsAtTheClockTimeout) {
  within(std::chrono::seconds(60),
         [] { a_stage_waiting_for_a_backup_that_never_comes_fails_at_its_limit(); });
}

class StageActor : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(StageActor, MalformedActivationsFailTheChainAndTheSystemShutsDown) {
  within(std::chrono::seconds(30),
         [target = GetParam()] { bad_activations_end_the_chain(target); });
}

INSTANTIATE_TEST_SUITE_P(TargetStage, StageActor, ::testing::Values(0u, 1u));

// A stage that cannot be built (here: a stage index beyond the job's split)
// must not die silently: its head would wait for it forever.
TEST(StageActorStart, StageThatCannotStartReportsFail) {
  within(std::chrono::seconds(30), [] {
    actor_config cfg;
    caf::actor_system sys{cfg};
    caf::scoped_actor observer{sys};
    const auto job = tiny_job();
    std::vector<shard_table> tables;
    for (const auto& t : workload_tables(job)) tables.push_back({t, {0, t.size}, 1});
    auto shard = spawn_shard(sys, 0, tables);
    worker_config w;
    w.job = job;
    auto stage = spawn_stage(sys, {job.stages, w}, nullptr, {shard},
                             caf::actor_cast<scheduler_actor>(observer));
    observer->monitor(stage);
    std::string why;
    observer->receive([&](fail_atom, std::uint32_t, const std::string& w) { why = w; },
                      caf::after(std::chrono::seconds(10)) >> [] {});
    EXPECT_NE(why.find("stage 2: starting"), std::string::npos) << "got '" << why << "'";
    bool down = false;
    observer->receive([&](const caf::down_msg&) { down = true; },
                      caf::after(std::chrono::seconds(10)) >> [] {});
    EXPECT_TRUE(down);
    observer->send_exit(shard, caf::exit_reason::user_shutdown);
  });
}

}  // namespace
}  // namespace troupe
