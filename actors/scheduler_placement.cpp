// Starting a job: shards (with their backups), then the evaluator, then the
// workers or pipeline replicas, in this process or on the node daemons
// (asynchronously, each step once the previous one is answered), and last
// the start of every worker. Recovery reuses the building blocks at the top.
#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <chrono>
#include <fstream>
#include <functional>
#include <random>
#include <utility>

#include "actors/actor_config.hpp"
#include "actors/compute_pool.hpp"
#include "actors/evaluator.hpp"
#include "actors/job_lease.hpp"
#include "actors/node.hpp"
#include "actors/scheduler_node_requests.hpp"
#include "actors/scheduler_state.hpp"
#include "actors/shard.hpp"
#include "actors/stage_actor.hpp"
#include "actors/timer.hpp"
#include "actors/worker.hpp"
#include "engine/store/partitioner.hpp"
#include "engine/wire/exchange_plan.hpp"
#include "engine/workloads/workload_registry.hpp"

namespace troupe::scheduler_detail {

std::vector<shard_table> shard_slices(const job_config& job, std::uint32_t k) {
  std::vector<shard_table> slices;
  for (const auto& t : workload_tables(job)) {
    slices.push_back(
        {t, t.kind == table_kind::dense ? dense_ranges(t.size, job.shards)[k] : key_range{},
         job.shards});
  }
  return slices;
}

// The code a job that could not be placed ends with, from the node's
// answer: its own (a missing data set or plugin, no capacity, ...), or
// peer_lost for a node that did not answer (troupe train's exit code
// follows it: fix the job, or try again later).
namespace {
errc placement_failure(const caf::error& err) {
  if (err && err.category() == troupe_error_category()) return static_cast<errc>(err.code());
  // A lost link or a node that did not answer in time: try again later.
  // Anything else (a node of another build answers unexpected_message)
  // stays until someone fixes it.
  for (const auto lost :
       {caf::sec::request_timeout, caf::sec::request_receiver_down, caf::sec::remote_linking_failed,
        caf::sec::no_route_to_receiving_node, caf::sec::cannot_connect_to_node}) {
    if (err.compare(caf::make_error(lost)) == 0) return errc::peer_lost;
  }
  if (err.category() == caf::make_error(caf::exit_reason::kill).category()) return errc::peer_lost;
  return errc::bad_config;
}
}  // namespace

worker_request make_worker_request(scheduler_pointer self, std::uint32_t id,
                                   std::uint32_t start_epoch, std::int64_t start_clock) {
  auto& st = self->state;
  worker_request req{to_toml(st.job),
                     id,
                     st.partition.at(id),
                     start_epoch,
                     start_clock,
                     st.shards,
                     caf::actor_cast<scheduler_actor>(self)};
  if (const auto skip = st.skip_batches.find(id); skip != st.skip_batches.end()) {
    req.skip_batches = skip->second;
  }
  return req;
}

// Asks `where[s]` to host stage s of replica w (a new id for a replacement);
// once all exist, wires the chain and hands the head to `ready`, which
// starts it like a worker. The scheduler monitors every stage.
void place_pipeline(scheduler_pointer self, std::uint32_t w, std::uint32_t epoch,
                    std::int64_t clock, const std::vector<std::size_t>& where, head_ready ready,
                    std::function<void(const std::string&)> node_lost) {
  auto& st = self->state;
  const auto& job = st.job;
  auto chain = std::make_shared<std::vector<stage_actor>>(job.stages);
  auto missing = std::make_shared<std::uint32_t>(job.stages);
  // A stage that could not be placed ends the chain, as does the replica's
  // own loss (a stage's node went while others were being placed: it was
  // replaced under a new id): the stages placed already, and those that
  // still come, stop unused.
  auto abandoned = std::make_shared<bool>(false);
  auto abandon = [=] {
    if (std::exchange(*abandoned, true)) return false;
    for (auto& stage : *chain) {
      if (!stage) continue;
      self->state.stages.erase(stage.address());
      self->send_exit(stage, caf::exit_reason::user_shutdown);
    }
    return true;
  };
  const auto me = caf::actor_cast<scheduler_actor>(self);
  for (std::uint32_t s = 0; s < job.stages; ++s) {
    const auto n = where[s];
    const auto skip = st.skip_batches.find(w);
    stage_request req{to_toml(job),
                      w,
                      st.partition.at(w),
                      s,
                      job.stages,
                      epoch,
                      clock,
                      st.shards,
                      me,
                      s == 0 && skip != st.skip_batches.end() ? skip->second : 0};
    spawn_on<stage_actor>(
        self, n, std::chrono::seconds(120), std::move(req),
        [=](stage_actor& stage) {
          auto& sx = self->state;
          if (sx.finished || *abandoned || !sx.running.count(w)) {
            abandon();
            return self->send_exit(stage, caf::exit_reason::user_shutdown);
          }
          self->monitor(stage);
          sx.stages[stage.address()] = {w, s, n, stage};
          (*chain)[s] = std::move(stage);
          if (--*missing > 0) return;
          wire_stages(*chain, caf::actor_cast<caf::actor>(self));
          std::string text;
          for (std::uint32_t i = 0; i < where.size(); ++i) {
            text += fmt::format("{}stage {} on {}", i ? ", " : "", i, sx.job.nodes[where[i]]);
          }
          spdlog::info("pipeline {}: {}", w, text);
          ready(caf::actor_cast<worker_actor>(chain->front()), text);
        },
        [=](caf::error& err) {
          if (!abandon()) return;
          auto& sx = self->state;
          if (sx.finished || !sx.running.count(w)) return;  // replaced meanwhile
          if (node_lost && is_troupe_error(err, errc::peer_lost)) {
            return node_lost("the node of its stage " + std::to_string(s) +
                             " was lost before it started (" + describe(err) + ")");
          }
          abort_job(self,
                    "placing stage " + std::to_string(s) + " of pipeline " + std::to_string(w) +
                        " on " + sx.job.nodes[n] + ": " + describe(err),
                    placement_failure(err));
        });
  }
}

std::shared_ptr<compute_pool> local_compute_pool(scheduler_pointer self) {
  auto& st = self->state;
  const std::size_t threads = self->system().scheduler().num_workers();
  const std::size_t slots = compute_slots(st.job, threads);
  if (!st.pool && st.job.workers > slots) {
    st.pool = std::make_shared<compute_pool>(slots);
    spdlog::info("{} workers on {} threads: at most {} hold a step's buffers at once",
                 st.job.workers, threads, st.pool->slots());
  }
  return st.pool;
}

worker_actor spawn_local_replica(scheduler_pointer self, const worker_config& cfg) {
  auto& st = self->state;
  const auto me = caf::actor_cast<scheduler_actor>(self);
  // A replica is one worker, or a pipeline of stages whose head acts as one.
  if (st.job.stages <= 1) {
    auto with_pool = cfg;
    with_pool.pool = local_compute_pool(self);
    return spawn_worker(self->system(), std::move(with_pool), st.data, st.shards, me);
  }
  auto chain = spawn_pipeline(self->system(), cfg, st.data, st.shards, me);
  // The caller monitors the head; the others are watched here, so that a
  // stage dying before it is linked into its chain still ends the job.
  for (std::uint32_t s = 1; s < chain.size(); ++s) {
    self->monitor(chain[s]);
    st.stages[chain[s].address()] = {cfg.id, s, placed_stage::in_process, chain[s]};
  }
  return caf::actor_cast<worker_actor>(chain.front());
}

std::size_t place(const std::vector<std::uint32_t>& chosen, std::size_t nodes, std::size_t i) {
  return chosen.empty() ? i % nodes : chosen[i % chosen.size()];
}

// The slots this job takes on each node when placed: its shards, their
// first backups (backup_plan) and its workers or pipeline stages.
std::vector<std::uint32_t> slots_needed(const scheduler_state& st) {
  std::vector<std::uint32_t> need(st.nodes.size(), 0);
  for (const auto& [k, n] : st.shard_node) ++need[n];
  for (const auto& [k, n] : st.backup_plan) ++need[n];
  const std::size_t replicas =
      std::size_t{st.job.workers} * std::max<std::uint32_t>(1, st.job.stages);
  for (std::size_t i = 0; i < replicas; ++i) ++need[place(st.job.worker_nodes, st.nodes.size(), i)];
  // A node named twice is asked once, for both (a reservation replaces the last).
  for (std::size_t i = 0; i < need.size(); ++i) {
    for (std::size_t j = i + 1; j < need.size(); ++j) {
      if (need[j] > 0 && st.nodes[j].address() == st.nodes[i].address()) {
        need[i] += std::exchange(need[j], 0);
      }
    }
  }
  return need;
}

namespace {

void launch(scheduler_pointer self);

void shards_ready(scheduler_pointer self);

// Cluster mode with [model] stages: stage s of replica w goes to worker node
// (w x S + s) round-robin, so neighbouring stages sit on different nodes
// whenever there are two or more.
void place_pipelines(scheduler_pointer self) {
  auto& st = self->state;
  const auto& job = st.job;
  st.workers.resize(job.workers);
  auto pending = std::make_shared<std::size_t>(job.workers);
  for (std::uint32_t w = 0; w < job.workers; ++w) {
    std::vector<std::size_t> where;
    for (std::uint32_t s = 0; s < job.stages; ++s) {
      where.push_back(place(job.worker_nodes, st.nodes.size(), std::size_t{w} * job.stages + s));
    }
    st.node_of[w] = where.front();
    place_pipeline(self, w, st.resume ? st.resume->epoch : 0u,
                   st.resume ? st.resume->clock : std::int64_t{0}, where,
                   [=](worker_actor head, const std::string&) {
                     // Ordered after `wire`: the head passes re-points down the chain.
                     for (std::uint32_t k = 0; k < self->state.shards.size(); ++k) {
                       self->send(head, repoint_atom::value, k, self->state.shards[k]);
                     }
                     self->state.workers[w] = std::move(head);
                     if (--*pending == 0) launch(self);
                   });
  }
}

// Cluster mode, step 2: workers on their nodes, once every shard exists.
void place_workers(scheduler_pointer self) {
  auto& st = self->state;
  const auto& job = st.job;
  if (job.stages > 1) return place_pipelines(self);
  st.workers.resize(job.workers);
  auto pending = std::make_shared<std::size_t>(job.workers);
  for (std::uint32_t w = 0; w < job.workers; ++w) {
    const auto n = place(job.worker_nodes, st.nodes.size(), w);
    st.node_of[w] = n;
    const auto epoch = st.resume ? st.resume->epoch : 0u;
    const auto clock = st.resume ? st.resume->clock : std::int64_t{0};
    auto req = make_worker_request(self, w, epoch, clock);
    // Generous: the node may have to load the data set first.
    spawn_on<worker_actor>(
        self, n, std::chrono::seconds(120), std::move(req),
        [=](worker_actor& worker) {
          self->monitor(worker);
          // Shards may have failed over while it was being placed.
          for (std::uint32_t k = 0; k < self->state.shards.size(); ++k) {
            self->send(worker, repoint_atom::value, k, self->state.shards[k]);
          }
          self->state.workers[w] = std::move(worker);
          if (--*pending == 0) launch(self);
        },
        [=](caf::error& err) {
          abort_job(self,
                    "placing worker " + std::to_string(w) + " on " + self->state.job.nodes[n] +
                        ": " + describe(err),
                    placement_failure(err));
        });
  }
}

// Cluster mode, step 1: every shard on its node (start_job chose which).
void place_shards(scheduler_pointer self) {
  auto& st = self->state;
  const auto& job = st.job;
  st.shards.resize(job.shards);
  st.backups.resize(job.shards);
  auto pending = std::make_shared<std::size_t>(job.shards);
  for (std::uint32_t k = 0; k < job.shards; ++k) {
    const auto n = st.shard_node.at(k);  // chosen before the slots were reserved
    spawn_on<shard_actor>(
        self, n, std::chrono::seconds(30), shard_request{k, shard_slices(job, k)},
        [=](shard_actor& shard) {
          self->monitor(shard);
          self->state.shards[k] = std::move(shard);
          auto done = [=] {
            if (--*pending == 0) shards_ready(self);
          };
          if (self->state.job.replication > 1) return make_backup(self, k, done);
          done();
        },
        [=](caf::error& err) {
          abort_job(self,
                    "placing shard " + std::to_string(k) + " on " + self->state.job.nodes[n] +
                        ": " + describe(err),
                    placement_failure(err));
        });
  }
}

void give_back_slots(scheduler_pointer self) {
  for (auto& node : self->state.nodes) {
    self->request(node, std::chrono::seconds(10), reserve_atom::value, std::uint32_t{0})
        .then([](std::uint32_t) {}, [](caf::error&) {});  // a lapsed reservation frees them too
  }
}

// Cluster mode, step 0: every node sets aside the slots this job will take
// there before anything is placed. Jobs started side by side on nodes that
// fit only some of them would otherwise each place part of their actors and
// all fail ("all 3 slots ... are in use"). A job that finds a node full gives
// back what it was granted and tries again after a random pause, for up to
// [cluster] slot_wait_s: it starts once another job ended.
void reserve_slots(scheduler_pointer self, clock_type::time_point since, int attempt) {
  auto& st = self->state;
  if (st.finished) return;
  const auto need = slots_needed(st);
  struct round {
    std::size_t pending = 0;
    std::vector<std::string> refusals;
    bool only_full = true;  // every refusal said no_capacity
    errc code = errc::ok;   // the first refusal's that is not no_capacity
  };
  auto r = std::make_shared<round>();
  for (const auto n : need) r->pending += n > 0;
  if (r->pending == 0) return place_shards(self);
  auto answered = [=] {
    if (--r->pending > 0 || self->state.finished) return;
    auto& s = self->state;
    if (r->refusals.empty()) {
      if (attempt > 0) spdlog::info("job '{}': slots free on every node; placing", s.job.name);
      return place_shards(self);
    }
    give_back_slots(self);
    std::string why;
    for (const auto& text : r->refusals) why += (why.empty() ? "" : "; ") + text;
    const auto waited = std::chrono::duration<double>(clock_type::now() - since).count();
    if (!r->only_full || waited >= s.job.slot_wait_s) {
      return abort_job(self,
                       "reserving slots" +
                           (attempt > 0 ? " (waited " + fmt::format("{:.0f}", waited) +
                                              " s, [cluster] slot_wait_s)"
                                        : std::string{}) +
                           ": " + why,
                       r->only_full ? errc::no_capacity : r->code);
    }
    if (attempt == 0) {
      spdlog::warn("job '{}': waiting up to {} s for free slots: {}", s.job.name, s.job.slot_wait_s,
                   why);
    }
    // Random, growing pauses: jobs that collided do not collide again in step.
    std::minstd_rand rng(static_cast<std::uint32_t>(self->id() * 7919 + attempt) ^
                         static_cast<std::uint32_t>(clock_type::now().time_since_epoch().count()));
    const auto cap = std::min<std::int64_t>(2000, std::int64_t{100} << std::min(attempt, 5));
    const auto pause = std::uniform_int_distribution<std::int64_t>(cap / 2, cap)(rng);
    self->request(s.timer, std::chrono::seconds(30), wait_atom::value, pause)
        .then([=](bool) { reserve_slots(self, since, attempt + 1); },
              [=](caf::error& err) { abort_job(self, "waiting for slots: " + describe(err)); });
  };
  for (std::size_t i = 0; i < need.size(); ++i) {
    if (need[i] == 0) continue;
    // Behind a spawn that loads a data set, as placing does.
    self->request(st.nodes[i], std::chrono::seconds(120), reserve_atom::value, need[i])
        .then([=](std::uint32_t) { answered(); },
              [=](caf::error& err) {
                r->refusals.push_back(self->state.job.nodes[i] + ": " + describe(err));
                r->only_full = r->only_full && is_troupe_error(err, errc::no_capacity);
                const auto code = placement_failure(err);
                if (r->code == errc::ok && code != errc::no_capacity) r->code = code;
                answered();
              });
  }
}

// Every shard exists (and holds its checkpoint when resuming): the evaluator
// and the workers follow.
void spawn_workers(scheduler_pointer self) {
  auto& st = self->state;
  const auto& job = st.job;
  st.evaluator = spawn_evaluator(self->system(), job, st.data, st.shards);
  self->monitor(st.evaluator);
  if (!st.nodes.empty()) return place_workers(self);
  for (std::uint32_t w = 0; w < job.workers; ++w) {
    worker_config cfg;
    cfg.id = w;
    cfg.partition = w;
    cfg.start_epoch = st.resume ? st.resume->epoch : 0;
    cfg.start_clock = st.resume ? st.resume->clock : 0;
    cfg.job = job;
    st.workers.push_back(spawn_local_replica(self, cfg));
    self->monitor(st.workers.back());
  }
  launch(self);
}

void shards_ready(scheduler_pointer self) {
  auto& st = self->state;
  if (!st.resume) return spawn_workers(self);
  auto pending = std::make_shared<std::size_t>(st.shards.size());
  for (std::size_t k = 0; k < st.shards.size(); ++k) {
    std::ifstream in(st.resume->files[k], std::ios::binary);
    bytes data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    self->request(st.shards[k], std::chrono::seconds(120), restore_atom::value, std::move(data),
                  false)
        .then(
            [=](std::uint64_t version) {
              self->state.restored_version[static_cast<std::uint32_t>(k)] = version;
              if (--*pending == 0) spawn_workers(self);
            },
            [=](caf::error& err) {
              abort_job(self, "restoring shard " + std::to_string(k) + " from " +
                                  self->state.resume->files[k] + ": " + describe(err));
            });
  }
}

// Every actor exists: log the job and start the workers.
void launch(scheduler_pointer self) {
  auto& st = self->state;
  const auto& job = st.job;
  const auto tables = workload_tables(job);
  std::string table_list;
  // A model of hundreds of tables would fill a screen: the first few, and a count.
  constexpr std::size_t listed = 8;
  for (std::size_t i = 0; i < tables.size(); ++i) {
    const auto& t = tables[i];
    if (i == listed) {
      table_list += " and " + std::to_string(tables.size() - listed) + " more";
      break;
    }
    table_list += (table_list.empty() ? "" : ", ") + t.name +
                  (t.kind == table_kind::dense
                       ? " (dense, " + std::to_string(t.size) + " keys)"
                       : " (sparse, width " + std::to_string(t.width) + ", " +
                             std::to_string(sparse_row_bytes(t)) + " bytes/row" +
                             (t.max_rows ? ", at most " + std::to_string(t.max_rows) + " rows/shard"
                                         : std::string{}) +
                             ")") +
                  (t.update == update_rule_spec{} ? "" : " update " + describe(t.update));
  }
  spdlog::info(
      "job '{}': {} worker{}{}, {} shard{}{}, staleness {}, stragglers {}, tables {}; {}", job.name,
      job.workers, job.workers == 1 ? "" : "s",
      job.stages > 1 ? fmt::format(" (pipelines of {} stages, {} micro-batches)", job.stages,
                                   job.micro_batches)
                     : std::string{},
      job.shards, job.shards == 1 ? "" : "s",
      st.nodes.empty() ? std::string{" in this process"}
                       : " on " + std::to_string(st.nodes.size()) + " nodes",
      staleness_to_string(job.staleness), job.stragglers, table_list,
      brings_own_data(job.model_kind)
          ? "the model brings its own data"
          : fmt::format("{} train / {} test rows", st.data->train_rows(), st.data->test_rows()));
  st.start = clock_type::now();
  st.interval = interval_totals{};
  st.placed = true;
  // Placed: what a backup placed elsewhere left of the reservations is free again.
  if (!st.nodes.empty()) give_back_slots(self);
  for (auto& w : st.workers) self->send(w, start_atom::value);
}

}  // namespace

void start_job(scheduler_pointer self) {
  auto& st = self->state;
  const auto& job = st.job;
  st.clocks = std::make_unique<clock_table>(job.staleness);
  const std::int64_t clock = st.resume ? st.resume->clock : 0;
  const std::int64_t epoch = st.resume ? st.resume->epoch : 0;
  for (std::uint32_t w = 0; w < job.workers; ++w) {
    st.clocks->add_worker(w, clock);
    st.start_clock[w] = clock;
    st.epoch_start[w] = clock;
    st.running.insert(w);
    st.last_epoch[w] = epoch - 1;
    st.epoch_base[w] = epoch;
    st.partition[w] = w;
  }
  st.next_eval = static_cast<std::uint32_t>(epoch);
  st.next_checkpoint = clock + 1;
  if (!st.nodes.empty()) {
    for (auto& n : st.nodes) self->monitor(n);
    // The nodes keep this job's actors while the scheduler lives and renews.
    st.lease_keeper =
        spawn_lease_keeper(self->system(), st.nodes, caf::actor_cast<caf::actor>(self));
    st.timer = spawn_timer(self->system());
    for (std::uint32_t k = 0; k < job.shards; ++k) {
      st.shard_node[k] = place(job.shard_nodes, st.nodes.size(), k);
    }
    plan_backups(self);
    return reserve_slots(self, clock_type::now(), 0);
  }
  for (std::uint32_t k = 0; k < job.shards; ++k) {
    st.shards.push_back(spawn_shard(self->system(), k, shard_slices(job, k)));
    self->monitor(st.shards.back());
  }
  shards_ready(self);
}

}  // namespace troupe::scheduler_detail
