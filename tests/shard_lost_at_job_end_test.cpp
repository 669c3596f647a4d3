// A node that hangs just as the job ends: the scheduler has asked every
// shard for its counters, one node stops answering, and a second later the
// node is declared lost and its shards' backups are promoted. The job must
// end with the promoted copies' counters. Before, the request to the hung
// primary stayed pending until its 30 s timeout and the finished job failed
// with "shard statistics: request_timeout" (1 job in 20 of scripts/soak.sh).
//
// The nodes run in this process, so the moment is exact: node n0 wraps each
// shard it hosts in an actor that forwards everything to the real shard
// until the scheduler's statistics request comes, then answers nothing and
// goes down 300 ms later, as a hung node's actors do once its link times out.
#include <gtest/gtest.h>

#include <caf/all.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
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

// Hands the current message on to `to` as it came: same sender, request id
// and forwarding stages, so that `to` answers whoever asked.
void pass_on(caf::scheduled_actor* self, const caf::strong_actor_ptr& to, caf::message msg,
             std::vector<caf::strong_actor_ptr> stages) {
  auto* e = self->current_mailbox_element();
  to->enqueue(caf::make_mailbox_element(e->sender, e->mid, std::move(stages), std::move(msg)),
              self->context());
}

// How node n0's shards fail when asked for their counters.
struct hang_plan {
  std::chrono::milliseconds down_after{300};
  bool bounce = false;       // answer with an error rather than not at all
  int answer_first = 0;      // the first this many asked answer, then go down
  std::atomic<int> hung{0};  // shards that were asked (and failed)
};

// Forwards every message to `real` (replies go straight to the sender) until
// a statistics request arrives; from then on answers nothing (or, with
// plan->bounce, an error, as the proxy of an actor gone down does) and
// ends after plan->down_after. The first plan->answer_first shards asked
// answer the request and go down 50 ms later instead.
caf::behavior hanging_shard(caf::event_based_actor* self, shard_actor real,
                            std::shared_ptr<hang_plan> plan) {
  self->link_to(real);  // the real copy goes down with this one
  auto frozen = std::make_shared<bool>(false);
  self->set_default_handler(
      [=](caf::scheduled_actor* s, caf::message_view& x) -> caf::result<caf::message> {
        if (!*frozen && x.content().match_elements<stats_atom>()) {
          *frozen = true;
          if (++plan->hung <= plan->answer_first) {
            self->delayed_send(self, std::chrono::milliseconds(50), hang_over_atom::value);
            pass_on(s, caf::actor_cast<caf::strong_actor_ptr>(real), x.move_content_to_message(),
                    std::move(s->current_mailbox_element()->stages));
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
  return {[=](hang_over_atom) { self->quit(caf::exit_reason::kill); }};
}

// A node that hosts its shards behind hanging_shard; everything else goes
// to `real` unchanged. Spawns keep the scheduler as their sender (the node
// holds the shard for the job of whoever asked), with this actor as the
// stage the answer passes through on its way back.
caf::behavior hanging_node(caf::event_based_actor* self, node_actor real,
                           std::shared_ptr<hang_plan> plan) {
  const auto to = caf::actor_cast<caf::strong_actor_ptr>(real);
  self->set_default_handler([=](caf::scheduled_actor* s,
                                caf::message_view& x) -> caf::result<caf::message> {
    pass_on(s, to, x.move_content_to_message(), std::move(s->current_mailbox_element()->stages));
    return caf::delegated<caf::message>{};
  });
  return {
      [=](spawn_atom, shard_request& req) {
        auto stages = std::move(self->current_mailbox_element()->stages);
        stages.emplace_back(caf::actor_cast<caf::strong_actor_ptr>(self));
        pass_on(self, to, caf::make_message(spawn_atom::value, std::move(req)), std::move(stages));
        return caf::delegated<shard_actor>{};
      },
      [=](shard_actor& shard) {  // the node's answer, to go on to the scheduler
        return caf::actor_cast<shard_actor>(self->spawn(hanging_shard, shard, plan));
      },
  };
}

// Runs a small job whose shard primaries are both on node n0, which fails
// as `plan` says once the job asks for the shards' counters.
caf::expected<job_summary> run_with_failing_node(const std::shared_ptr<hang_plan>& plan) {
  if (!fs::exists(default_data_dir("fashion-mnist"))) {
    return make_troupe_error(errc::missing_dataset,
                             "Fashion-MNIST is missing: run scripts/setup.sh");
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
  job.output_dir =
      (fs::temp_directory_path() / ("troupe_lost_at_end_" + std::to_string(::getpid()))).string();
  fs::remove_all(job.output_dir);
  fs::create_directories(job.output_dir);
  auto data = load_workload_data(job);
  fit_job_to_data(job, *data);

  caf::expected<job_summary> result{caf::sec::request_timeout};
  {
    actor_config cfg;
    caf::actor_system sys{cfg};
    caf::scoped_actor self{sys};
    std::vector<node_actor> nodes;
    for (int i = 0; i < 3; ++i) {
      node_options opts;
      opts.name = "n" + std::to_string(i);
      opts.secret = "a-secret-of-sixteen-bytes";
      opts.training = make_training_host(opts.name);
      nodes.push_back(spawn_node(sys, std::move(opts)));
    }
    const auto real0 = nodes[0];
    nodes[0] = caf::actor_cast<node_actor>(sys.spawn(hanging_node, real0, plan));
    auto scheduler = spawn_scheduler(sys, job, data, nodes);
    self->request(scheduler, std::chrono::minutes(2), run_atom::value)
        .receive([&](const job_summary& s) { result = s; },
                 [&](caf::error& err) { result = std::move(err); });
    for (auto& n : nodes) self->send_exit(n, caf::exit_reason::user_shutdown);
    self->send_exit(real0, caf::exit_reason::user_shutdown);
  }
  fs::remove_all(job.output_dir);
  return result;
}

void expect_counters_of_promoted_backups(const hang_plan& plan,
                                         const caf::expected<job_summary>& result) {
  // Both primaries were asked and failed: the case under test did happen.
  EXPECT_EQ(plan.hung.load(), 2);
  ASSERT_TRUE(result) << describe(result.error());
  EXPECT_EQ(result->epochs, 2u);
  EXPECT_EQ(result->shards_failed_over, 2u);
  // The promoted backups received every push their primaries applied.
  EXPECT_GT(result->pushes_acked, 0u);
  EXPECT_EQ(result->pushes_applied, result->pushes_acked);
  EXPECT_GT(result->test_accuracy, 0.3);  // learnt: chance is 10%
}

// The node stops answering and is declared lost a moment later (300 ms
// here; about a second with real heartbeats).
TEST(ShardLostAtJobEnd, AHungNodesShardsGiveTheirCountersFromThePromotedBackups) {
  auto plan = std::make_shared<hang_plan>();
  const auto result = run_with_failing_node(plan);
  expect_counters_of_promoted_backups(*plan, result);
}

// The request fails 300 ms before the shards' down messages come: the job
// waits for their promotion rather than ending on the error.
TEST(ShardLostAtJobEnd, AnErrorBeforeTheDownMessageWaitsForThePromotion) {
  auto plan = std::make_shared<hang_plan>();
  plan->bounce = true;
  const auto result = run_with_failing_node(plan);
  expect_counters_of_promoted_backups(*plan, result);
}

// One shard answers and is lost right after, while the other hangs: the
// first one's successor is not asked again, so no push counts twice.
TEST(ShardLostAtJobEnd, ACopyLostAfterItAnsweredIsNotCountedTwice) {
  auto plan = std::make_shared<hang_plan>();
  plan->answer_first = 1;
  const auto result = run_with_failing_node(plan);
  expect_counters_of_promoted_backups(*plan, result);
}

}  // namespace
}  // namespace troupe
