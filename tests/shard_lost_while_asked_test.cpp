// A node that hangs while the scheduler waits for its shards' answer, and a
// moment later is declared lost, its shards' backups promoted:
//   - at the end of the job, asked for the shards' counters: the job must
//     end with the promoted copies' counters. Before, the request to the hung
//     primary stayed pending until its 30 s timeout and the finished job
//     failed with "shard statistics: request_timeout" (1 job in 20 of
//     scripts/soak.sh);
//   - asked to write a checkpoint: the round is abandoned and later ones are
//     written. Before, the round waited 120 s for the lost copy, and no
//     checkpoint was written meanwhile;
//   - asked to write the best model (keep_best): the promoted copies write
//     it. Before, best.txt never named the model the summary reported.
//
// The nodes run in this process, so the moment is exact: node n0 wraps each
// shard it hosts in an actor that forwards everything to the real shard
// until the chosen request comes, then answers nothing and goes down 300 ms
// later, as a hung node's actors do once its link times out.
#include <gtest/gtest.h>

#include <caf/all.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>

#include <unistd.h>

#include "actors/actor_config.hpp"
#include "actors/node.hpp"
#include "actors/scheduler.hpp"
#include "actors/training_host.hpp"
#include "engine/errors.hpp"
#include "engine/workloads/workload_factory.hpp"

namespace troupe {
namespace {

namespace fs = std::filesystem;
using hang_over_atom = caf::atom_constant<caf::atom("hangover")>;
using late_atom = caf::atom_constant<caf::atom("late")>;

// Hands the current message on to `to` as it came: same sender, request id
// and forwarding stages, so that `to` answers whoever asked.
void pass_on(caf::scheduled_actor* self, const caf::strong_actor_ptr& to, caf::message msg,
             std::vector<caf::strong_actor_ptr> stages) {
  auto* e = self->current_mailbox_element();
  to->enqueue(caf::make_mailbox_element(e->sender, e->mid, std::move(stages), std::move(msg)),
              self->context());
}

// How node n0's shards fail when asked for their counters (or, with
// on_checkpoint, to write their first checkpoint).
struct hang_plan {
  bool on_checkpoint = false;
  std::chrono::milliseconds down_after{300};
  bool bounce = false;               // answer with an error rather than not at all
  int answer_first = 0;              // the first this many asked answer, then go down
  bool others_answer_late = false;   // the rest answer after down_after and stay up
  std::atomic<int> hung{0};          // shards that were asked
  std::atomic<int> shard_spawns{0};  // shard copies asked of any node
};

// Forwards every message to `real` (replies go straight to the sender) until
// a statistics request arrives; from then on answers nothing (or, with
// plan->bounce, an error, as the proxy of an actor gone down does) and
// ends after plan->down_after. The first plan->answer_first shards asked
// answer the request and go down right after their answer instead (the
// answer reaches the scheduler before the down message); with
// plan->others_answer_late the rest answer after plan->down_after and stay.
caf::behavior hanging_shard(caf::event_based_actor* self, shard_actor real,
                            std::shared_ptr<hang_plan> plan) {
  self->link_to(real);  // the real copy goes down with this one
  auto frozen = std::make_shared<bool>(false);
  auto answer = std::make_shared<std::function<void()>>();
  // Asks the real shard for its counters and answers the current request
  // with them; `then_quit`: goes down once the answer is on its way.
  auto answer_for_real = [=](bool then_quit) {
    auto rp = self->make_response_promise();
    return [=]() mutable {
      self->request(real, std::chrono::seconds(10), stats_atom::value)
          .then(
              [=](shard_stats& stats) mutable {
                rp.deliver(std::move(stats));
                if (then_quit) self->quit(caf::exit_reason::kill);
              },
              [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
    };
  };
  self->set_default_handler(
      [=](caf::scheduled_actor* s, caf::message_view& x) -> caf::result<caf::message> {
        const bool trigger = plan->on_checkpoint ? x.content().match_element<checkpoint_atom>(0)
                                                 : x.content().match_elements<stats_atom>();
        if (!*frozen && trigger) {
          *frozen = true;
          if (++plan->hung <= plan->answer_first) {
            answer_for_real(true)();
            return caf::delegated<caf::message>{};
          }
          if (plan->others_answer_late) {
            *answer = answer_for_real(false);
            self->delayed_send(self, plan->down_after, late_atom::value);
            return caf::delegated<caf::message>{};
          }
          self->delayed_send(self, plan->down_after, hang_over_atom::value);
          if (plan->bounce) return caf::error{caf::sec::request_receiver_down};
        }
        if (*frozen) return caf::delegated<caf::message>{};  // never answered
        pass_on(s, caf::actor_cast<caf::strong_actor_ptr>(real), x.move_content_to_message(),
                std::move(s->current_mailbox_element()->stages));
        return caf::delegated<caf::message>{};
      });
  return {
      [=](hang_over_atom) { self->quit(caf::exit_reason::kill); },
      [=](late_atom) { (*answer)(); },
  };
}

// A node that hosts its shards behind hanging_shard (when `hangs`; else it
// only counts them); everything else goes to `real` unchanged. Spawns keep
// the scheduler as their sender (the node holds the shard for the job of
// whoever asked), with this actor as the stage the answer passes through on
// its way back.
caf::behavior hanging_node(caf::event_based_actor* self, node_actor real,
                           std::shared_ptr<hang_plan> plan, bool hangs) {
  const auto to = caf::actor_cast<caf::strong_actor_ptr>(real);
  // A refused spawn's error comes back through this stage as a message of
  // its own: it goes on to the scheduler like an answer (CAF's default
  // would end this actor).
  self->set_error_handler([=](caf::error& err) {
    auto rp = self->make_response_promise();
    rp.deliver(std::move(err));
  });
  self->set_default_handler([=](caf::scheduled_actor* s,
                                caf::message_view& x) -> caf::result<caf::message> {
    pass_on(s, to, x.move_content_to_message(), std::move(s->current_mailbox_element()->stages));
    return caf::delegated<caf::message>{};
  });
  return {
      [=](spawn_atom, shard_request& req) {
        ++plan->shard_spawns;
        auto stages = std::move(self->current_mailbox_element()->stages);
        stages.emplace_back(caf::actor_cast<caf::strong_actor_ptr>(self));
        pass_on(self, to, caf::make_message(spawn_atom::value, std::move(req)), std::move(stages));
        return caf::delegated<shard_actor>{};
      },
      [=](shard_actor& shard) {  // the node's answer, to go on to the scheduler
        return hangs ? caf::actor_cast<shard_actor>(self->spawn(hanging_shard, shard, plan))
                     : shard;
      },
  };
}

struct run_result {
  caf::expected<job_summary> summary{caf::sec::request_timeout};
  std::vector<std::int64_t> progress_clocks;  // of the complete checkpoints kept
  std::string best_txt;                       // keep_best: best/best.txt, if written
};

// Runs a small job whose shard primaries are both on node n0, which fails
// as `plan` says; `adjust` may change the job (checkpoints, replication).
run_result run_with_failing_node(const std::shared_ptr<hang_plan>& plan,
                                 const std::function<void(job_config&)>& adjust = {}) {
  run_result out;
  if (!fs::exists(default_data_dir("fashion-mnist"))) {
    out.summary =
        make_troupe_error(errc::missing_dataset, "Fashion-MNIST is missing: run scripts/setup.sh");
    return out;
  }
  auto job = default_job_config();
  job.name = "lost_at_end";
  job.train_limit = 3000;
  job.test_limit = 500;
  job.epochs = 2;
  job.workers = 2;
  job.shards = 2;
  job.replication = 2;
  // Only names for the log: these nodes are in this process.
  job.nodes = {"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"};
  job.secret_file = "unused";  // nothing here connects
  job.shard_nodes = {0};       // both primaries on the node that will hang
  job.worker_nodes = {1, 2};
  job.backend = kernels::backend_kind::cpu;
  if (adjust) adjust(job);
  job.output_dir =
      (fs::temp_directory_path() / ("troupe_lost_at_end_" + std::to_string(::getpid()))).string();
  fs::remove_all(job.output_dir);
  fs::create_directories(job.output_dir);
  auto data = load_workload_data(job);
  fit_job_to_data(job, *data);

  auto& result = out.summary;
  {
    actor_config cfg;
    caf::actor_system sys{cfg};
    caf::scoped_actor self{sys};
    std::vector<node_actor> real, nodes;
    for (int i = 0; i < 3; ++i) {
      node_options opts;
      opts.name = "n" + std::to_string(i);
      opts.secret = "a-secret-of-sixteen-bytes";
      opts.training = make_training_host(opts.name);
      real.push_back(spawn_node(sys, std::move(opts)));
      nodes.push_back(caf::actor_cast<node_actor>(sys.spawn(hanging_node, real[i], plan, i == 0)));
    }
    auto scheduler = spawn_scheduler(sys, job, data, nodes);
    self->request(scheduler, std::chrono::minutes(2), run_atom::value)
        .receive([&](const job_summary& s) { result = s; },
                 [&](caf::error& err) { result = std::move(err); });
    for (auto& n : nodes) self->send_exit(n, caf::exit_reason::user_shutdown);
    for (auto& n : real) self->send_exit(n, caf::exit_reason::user_shutdown);
  }
  std::error_code ec;
  for (fs::directory_iterator it(fs::path(job.output_dir) / "checkpoints", ec), end;
       !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    const std::string prefix = "progress-clock-";
    if (name.rfind(prefix, 0) == 0 && it->path().extension() == ".txt") {
      out.progress_clocks.push_back(std::stoll(name.substr(prefix.size())));
    }
  }
  if (std::ifstream in(fs::path(job.output_dir) / "best" / "best.txt"); in) {
    out.best_txt.assign(std::istreambuf_iterator<char>(in), {});
  }
  fs::remove_all(job.output_dir);
  return out;
}

// Both primaries were asked and failed (the case under test did happen),
// the job finished anyway with `failed_over` shards replaced, and every push
// applied was acknowledged once. False when the job failed.
bool finished_after_failure(const hang_plan& plan, const caf::expected<job_summary>& result,
                            std::uint32_t failed_over) {
  EXPECT_EQ(plan.hung.load(), 2);
  EXPECT_TRUE(result) << describe(result.error());
  if (!result) return false;
  EXPECT_EQ(result->shards_failed_over, failed_over);
  EXPECT_EQ(result->pushes_applied, result->pushes_acked);
  return true;
}

void expect_counters_of_promoted_backups(const hang_plan& plan,
                                         const caf::expected<job_summary>& result,
                                         std::uint32_t failed_over = 2) {
  // Two primaries and two backups: no new backup asked for a job that has
  // trained.
  EXPECT_EQ(plan.shard_spawns.load(), 4);
  if (!finished_after_failure(plan, result, failed_over)) return;
  EXPECT_EQ(result->epochs, 2u);
  // The promoted backups received every push their primaries applied.
  EXPECT_GT(result->pushes_acked, 0u);
  EXPECT_GT(result->test_accuracy, 0.3);  // learnt: chance is 10%
}

// The node stops answering and is declared lost a moment later (300 ms
// here; about a second with real heartbeats).
TEST(ShardLostAtJobEnd, AHungNodesShardsGiveTheirCountersFromThePromotedBackups) {
  auto plan = std::make_shared<hang_plan>();
  expect_counters_of_promoted_backups(*plan, run_with_failing_node(plan).summary);
}

// The request fails 300 ms before the shards' down messages come: the job
// waits for their promotion rather than ending on the error.
TEST(ShardLostAtJobEnd, AnErrorBeforeTheDownMessageWaitsForThePromotion) {
  auto plan = std::make_shared<hang_plan>();
  plan->bounce = true;
  expect_counters_of_promoted_backups(*plan, run_with_failing_node(plan).summary);
}

// One shard answers and is lost right after, while the other hangs: only
// the hung one is replaced and asked again, and no push counts twice.
TEST(ShardLostAtJobEnd, ACopyLostAfterItAnsweredIsNotCountedTwice) {
  auto plan = std::make_shared<hang_plan>();
  plan->answer_first = 1;
  expect_counters_of_promoted_backups(*plan, run_with_failing_node(plan).summary, 1);
}

// Without backups, shard 0 answers and is lost while shard 1's answer is
// still to come: the job needs nothing more from shard 0 and ends. Before,
// the loss sent shard 0 to its checkpoint, and without one the finished job
// failed ("no checkpoint to restore it from").
TEST(ShardLostAtJobEnd, AShardLostAfterItsCountersNeedsNoRecovery) {
  auto plan = std::make_shared<hang_plan>();
  plan->answer_first = 1;
  plan->others_answer_late = true;
  const auto run = run_with_failing_node(plan, [](job_config& job) { job.replication = 1; });
  finished_after_failure(*plan, run.summary, 0);
}

// The primaries hang when asked for the checkpoint of clock 10: the round
// is abandoned once they are replaced, and the rounds after it complete.
TEST(ShardLostMidCheckpoint, LaterRoundsAreWrittenWithThePromotedBackups) {
  auto plan = std::make_shared<hang_plan>();
  plan->on_checkpoint = true;
  const auto run = run_with_failing_node(plan, [](job_config& job) { job.checkpoint_every = 10; });
  if (!finished_after_failure(*plan, run.summary, 2)) return;
  // Mid-job, each promoted backup gets a new backup of its own.
  EXPECT_GE(plan->shard_spawns.load(), 6);
  ASSERT_FALSE(run.progress_clocks.empty()) << "no checkpoint completed after the failover";
  EXPECT_GT(*std::max_element(run.progress_clocks.begin(), run.progress_clocks.end()), 10);
}

// keep_best, one epoch: the primaries fail as `plan` says when asked to
// checkpoint the model of the only evaluation into best/. Their promoted
// backups write it, and best.txt names the epoch the summary reports as the
// best.
void expect_best_model_from_promoted_backups(const std::shared_ptr<hang_plan>& plan) {
  const auto run = run_with_failing_node(plan, [](job_config& job) {
    // A validation set needs data from files: the same idx files, read as a user's.
    const auto dir = default_data_dir("fashion-mnist");
    job.data_set = "files";
    job.data.format = "idx";
    job.data.train = dir + "/train-images-idx3-ubyte.gz";
    job.data.train_labels = dir + "/train-labels-idx1-ubyte.gz";
    job.data.test = dir + "/t10k-images-idx3-ubyte.gz";
    job.data.test_labels = dir + "/t10k-labels-idx1-ubyte.gz";
    job.data.normalize = "scale";
    job.data.scale = 255;
    job.data.validation_fraction = 0.1;
    job.keep_best = true;
    job.epochs = 1;
  });
  if (!finished_after_failure(*plan, run.summary, 2)) return;
  ASSERT_EQ(run.summary->best_epoch, 1);
  EXPECT_NE(run.best_txt.find("epoch=1\n"), std::string::npos) << "best.txt: " << run.best_txt;
}

TEST(ShardLostMidCheckpoint, TheBestModelIsWrittenByThePromotedBackups) {
  auto plan = std::make_shared<hang_plan>();
  plan->on_checkpoint = true;
  expect_best_model_from_promoted_backups(plan);
}

// The request fails 300 ms before the down messages come (as a dead
// proxy's does): the round waits for the promotion rather than ending.
TEST(ShardLostMidCheckpoint, TheBestModelIsWrittenAfterAnErrorBeforeTheDownMessage) {
  auto plan = std::make_shared<hang_plan>();
  plan->on_checkpoint = true;
  plan->bounce = true;
  expect_best_model_from_promoted_backups(plan);
}

}  // namespace
}  // namespace troupe
