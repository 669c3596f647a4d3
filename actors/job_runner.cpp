#include "actors/job_runner.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "actors/actor_config.hpp"
#include "actors/metrics_exporter.hpp"
#include "actors/node.hpp"
#include "actors/remote_connect.hpp"
#include "actors/scheduler.hpp"
#include "actors/scheduler_state.hpp"
#include "actors/thread_pinning.hpp"
#include "actors/tls_config.hpp"
#include "engine/auth.hpp"
#include "engine/data/csv_loader.hpp"
#include "engine/data/dataset.hpp"
#include "engine/earlier_run.hpp"
#include "engine/memory_estimate.hpp"
#include "engine/output_lock.hpp"
#include "engine/shared_dir.hpp"
#include "engine/store/checkpoint.hpp"
#include "engine/store/progress_files.hpp"
#include "engine/store/shard_store.hpp"
#include "engine/wire/exchange_plan.hpp"
#include "engine/wire/wire_codec.hpp"
#include "engine/workloads/workload_factory.hpp"
#include "engine/workloads/workload_registry.hpp"
#include "kernels/backend.hpp"

namespace troupe {

std::string summary_line(const job_summary& s) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(4);
  // Metrics named for what they are: a regression has no accuracy.
  if (s.regression) {
    out << "test_rmse=" << s.test_loss << " test_mae=" << s.test_mae;
  } else {
    out << "test_accuracy=" << s.test_accuracy << " test_log_loss=" << s.test_loss;
  }
  if (s.baseline >= 0)
    out << (s.regression ? " baseline_rmse=" : " baseline_accuracy=") << s.baseline;
  if (s.best_epoch > 0) {
    out << " best_val_loss=" << s.best_val_loss << " best_epoch=" << s.best_epoch
        << " stopped_early=" << (s.stopped_early ? 1 : 0);
  }
  out.precision(0);
  out << " samples_per_s=" << s.samples_per_s;
  out.precision(1);
  out << " wall_s=" << s.wall_s << " epochs=" << s.epochs << " time_to_target_s=";
  if (s.time_to_target_s >= 0) {
    out << s.time_to_target_s;
  } else {
    out << "never";
  }
  out.precision(4);
  out << " wait_fraction=" << s.wait_fraction << " compute_fraction=" << s.compute_fraction
      << " pull_fraction=" << s.pull_fraction << " push_fraction=" << s.push_fraction
      << " mean_staleness=" << s.mean_staleness;
  out.precision(0);
  out << " p50_staleness=" << s.staleness_p50 << " p99_staleness=" << s.staleness_p99
      << " max_staleness=" << s.max_staleness << " max_clock_spread=" << s.max_clock_spread
      << " target_clock=" << s.target_clock << " steps=" << s.steps
      << " pushes_rejected=" << s.pushes_rejected << " pushes_applied=" << s.pushes_applied
      << " pushes_acked=" << s.pushes_acked << " workers_replaced=" << s.workers_replaced
      << " shards_failed_over=" << s.shards_failed_over << " shards_restored=" << s.shards_restored
      << " pushes_resent=" << s.pushes_resent;
  return out.str();
}

namespace {

// Once the job is over, until every node has let it go (for at most 2 s):
// a node learns of the scheduler's end over this process's connection, and
// when this process ended at once (troupe train returning), a node could
// find the connection gone first and log the finished job as ended by a lost
// link. Also, a script's next job then finds the slots free.
void wait_for_release(caf::scoped_actor& self, const std::vector<node_actor>& nodes,
                      const scheduler_actor& scheduler) {
  self->receive([](const caf::down_msg&) {}, caf::after(std::chrono::seconds(5)) >>
                                                 [] {});  // the scheduler ends after answering
  const auto owner = caf::actor_cast<caf::actor>(scheduler);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  std::vector<bool> released(nodes.size(), false);
  while (std::chrono::steady_clock::now() < deadline) {
    // All nodes asked at once, then the answers taken: asked in turn, every
    // lost node (its request times out) added a second to the job's end.
    using handle =
        decltype(self->request(nodes[0], std::chrono::seconds(1), lease_atom::value, owner));
    std::vector<std::pair<std::size_t, handle>> asked;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (released[i]) continue;
      asked.emplace_back(
          i, self->request(nodes[i], std::chrono::seconds(1), lease_atom::value, owner));
    }
    for (auto& [i, answer] : asked) {
      answer.receive([&, i = i](bool held) { released[i] = !held; },
                     [&, i = i](caf::error&) { released[i] = true; });  // lost: nothing to wait for
    }
    if (std::all_of(released.begin(), released.end(), [](bool r) { return r; })) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Connects to and authenticates with every node of the job's [cluster], then
// tells each node which other nodes belong to the job (they exchange
// parameters directly). Throws troupe_error naming the node that failed.
std::vector<node_actor> connect_nodes(caf::actor_system& sys, caf::scoped_actor& self,
                                      const job_config& job) {
  std::vector<node_actor> nodes;
  if (job.nodes.empty()) return nodes;
  // Under TLS alone the certificates were the credentials; with a secret too,
  // the nodes also want the challenge-response.
  const auto secret = job.secret_file.empty() ? std::string{} : load_secret(job.secret_file);
  const auto timeout = handshake_deadline(configured_peer_timeout(sys));
  for (const auto& address : job.nodes) {
    const auto [host, port] = parse_address(address);
    // A connection CAF drops before the handshake is tried again inside,
    // until the deadline (actors/remote_connect.cpp).
    auto node = connect_remote<node_actor>(sys, host, port, timeout);
    if (!node) {
      throw troupe_error(errc::peer_lost, "cannot reach node " + address + ": " +
                                              describe(node.error()) +
                                              connect_failure_hint(node.error(), job.tls));
    }
    // One daemon under two names (localhost and 127.0.0.1, say) counted as
    // two nodes: a backup placed "elsewhere" shared its primary's process,
    // and the job said it ran without one.
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (nodes[i].node() == node->node()) {
        throw troupe_error(errc::bad_config, job.nodes[i] + " and " + address +
                                                 " are the same node daemon (node id " +
                                                 caf::to_string(node->node()) +
                                                 "): name each node once");
      }
    }
    if (!secret.empty()) {
      if (auto err = authenticate(self, *node, secret, timeout)) {
        // A refusal is the secret's fault; a timeout or a lost link during
        // the handshake is the network's (troupe train exits 3 or 4).
        const bool refused = is_troupe_error(err, errc::bad_config);
        throw troupe_error(
            refused ? errc::auth_failed : errc::peer_lost,
            "node " + address +
                (refused ? " refused this client: " : " did not complete the authentication: ") +
                describe(err));
      }
    }
    spdlog::info("{} with node {} ({})", secret.empty() ? "TLS session" : "authenticated", address,
                 caf::to_string(node->node()));
    nodes.push_back(*node);
  }
  std::vector<caf::node_id> members{sys.node()};
  for (const auto& n : nodes) members.push_back(n.node());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    caf::error err;
    self->request(nodes[i], timeout, admit_atom::value, members,
                  std::int64_t{configured_peer_timeout(sys).count()})
        .receive([](std::uint64_t) {}, [&](caf::error& e) { err = std::move(e); });
    if (err) {
      // A node that answered with a refusal (a configuration the job does
      // not share, a credential it lacks) is the operator's to fix, not a
      // lost peer.
      const auto code = is_troupe_error(err, errc::bad_config)    ? errc::bad_config
                        : is_troupe_error(err, errc::auth_failed) ? errc::auth_failed
                                                                  : errc::peer_lost;
      throw troupe_error(
          code, "node " + job.nodes[i] + " did not admit the job's nodes: " + describe(err));
    }
  }
  // Node i connects to the nodes after it: one direct link per pair, so that
  // workers and shards on different nodes do not talk through this process.
  for (std::size_t i = 0; i + 1 < nodes.size(); ++i) {
    const std::vector<std::string> later(job.nodes.begin() + static_cast<long>(i) + 1,
                                         job.nodes.end());
    self->request(nodes[i], timeout, link_atom::value, later)
        .receive([](std::uint64_t) {},
                 [&](caf::error& e) {
                   spdlog::warn(
                       "node {} cannot link to the others ({}); their traffic goes "
                       "through this process",
                       job.nodes[i], describe(e));
                 });
  }
  return nodes;
}

// Sets newer than the one a job resumes from are the interrupted run's, and
// the resumed run rewrites their clocks' shard files: a shard of the new run
// that failed to write would leave the old progress file vouching for a set
// of both runs. Their progress files are renamed (kept, but no set).
void set_aside_newer(const std::string& dir, std::int64_t clock) {
  for (const auto newer : list_progress_clocks(dir)) {
    if (newer <= clock) continue;
    const auto path = dir + "/" + progress_file_name(newer);
    std::error_code ec;
    std::filesystem::rename(path, path + ".superseded", ec);
    if (ec) {
      throw troupe_error(errc::io_error,
                         "resume: cannot set aside " + path + " (" + ec.message() +
                             "), a set of the interrupted run a later resume could mix up");
    }
    spdlog::info("resume: {} set aside as .superseded (newer than the set resumed from)", path);
  }
}

// The latest clock at which every shard left a complete checkpoint (and the
// scheduler its progress file). Newer but broken or partial sets are skipped
// with a warning naming the file and what is wrong with it.
resume_point choose_resume_point(const job_config& job) {
  namespace fs = std::filesystem;
  const std::string& dir = job.resume_from;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw troupe_error(errc::io_error,
                       "cannot read checkpoint directory " + dir +
                           " (a job writes checkpoints with --checkpoint-every N, [train] "
                           "checkpoint_every)");
  }
  const auto clocks = list_progress_clocks(dir);  // newest first
  std::vector<std::string> skipped;
  for (const auto clock : clocks) {
    resume_point point;
    point.clock = clock;
    const auto progress_path = dir + "/" + progress_file_name(clock);
    std::string line, problem = "its progress file has no epoch";
    if (!fs::is_regular_file(progress_path, ec)) {
      problem = progress_path + " is not a regular file";  // a FIFO would block the read
    } else if (const auto size = fs::file_size(progress_path, ec); ec || size > 4096) {
      // Two short lines: a large one (a sparse 6 GB file) is no progress file.
      problem = progress_path + " is no progress file (" +
                (ec ? ec.message() : std::to_string(size) + " bytes") + ")";
    } else {
      std::ifstream progress(progress_path);
      while (std::getline(progress, line)) {
        unsigned long long epoch = 0;
        long long at = 0;
        char end = 0;
        if (line.rfind("epoch=", 0) == 0) {
          // Digits only: sscanf's %llu takes "-1" for 2^64 - 1.
          const bool digits = line.size() > 6 && line.size() <= 16 &&
                              line.find_first_not_of("0123456789", 6) == std::string::npos;
          // An epoch past this job's end is a finished run's (refused below).
          if (!digits || std::sscanf(line.c_str(), "epoch=%llu%c", &epoch, &end) != 1) {
            problem = progress_path + ": '" + line + "' is no epoch of this job";
            break;
          }
          point.epoch = static_cast<std::uint32_t>(epoch);
          problem.clear();
        } else if (std::sscanf(line.c_str(), "clock=%lld%c", &at, &end) == 1 && at != clock) {
          problem = progress_path + " says clock " + std::to_string(at) + ", not its name's";
          break;
        } else if (line.rfind("data=", 0) == 0) {
          point.data = line.substr(5);
        } else if (line.rfind("model=", 0) == 0 && line.substr(6) != model_signature(job)) {
          // Not a damaged set: every set in the directory is of that model.
          // (Older progress files name none; their tables' layout is checked.)
          throw troupe_error(errc::bad_config,
                             "cannot resume from " + dir + ": its checkpoints are of the model '" +
                                 line.substr(6) + "', this job's is '" + model_signature(job) +
                                 "' (resume with the model it trained, or start afresh in another "
                                 "directory, -o)");
        }
      }
    }
    for (std::uint32_t k = 0; k < job.shards && problem.empty(); ++k) {
      const auto path = dir + "/" + checkpoint_file_name(k, clock);
      checkpoint ck;
      if (auto st = read_checkpoint(path, ck); !st) {
        problem = st.to_string();
      } else if (ck.header.job != job.name || ck.header.shard_id != k) {
        problem = path + " belongs to job '" + ck.header.job + "' shard " +
                  std::to_string(ck.header.shard_id);
      } else if (ck.header.clock != clock) {
        problem = path + " holds the state of clock " + std::to_string(ck.header.clock) +
                  ", not what its name says";
      } else if (auto st = check_layout(ck.snapshot, scheduler_detail::shard_slices(job, k)); !st) {
        // Not a damaged set: every set in the directory is of that job.
        throw troupe_error(errc::bad_config, "cannot resume from " + path + ": " + st.message());
      }
      point.files.push_back(path);
    }
    if (problem.empty() && point.epoch >= job.epochs) {
      // Resumed, it would retrain from an older set and overwrite this run.
      // (Fewer epochs than were trained read "the end of epoch 6 of 2".)
      throw troupe_error(errc::bad_config,
                         "the job in " + dir + " has trained " + std::to_string(point.epoch) +
                             " epochs (its checkpoint of clock " + std::to_string(clock) +
                             "), and this run asks for " + std::to_string(job.epochs) +
                             ": nothing to resume (give more epochs, --epochs " +
                             std::to_string(point.epoch + 1) + " or more, to train on)");
    }
    if (problem.empty()) {
      for (const auto& s : skipped) spdlog::warn("resume: {}", s);
      set_aside_newer(dir, clock);
      return point;
    }
    skipped.push_back("checkpoint of clock " + std::to_string(clock) + " unusable: " + problem);
  }
  std::string why;
  for (const auto& s : skipped) why += "; " + s;
  throw troupe_error(errc::io_error,
                     "no complete checkpoint to resume from in " + dir + why +
                         (clocks.empty() ? " (a job writes checkpoints with --checkpoint-every N, "
                                           "[train] checkpoint_every)"
                                         : ""));
}

// Refuses a job that would not fit this machine: all of it in one process,
// or the scheduler's part (data set, evaluator) of a cluster job; each node
// checks the workers it is asked to host.
void check_job_memory(const job_config& job, const workload_data& data) {
  const auto est = estimate_job_memory(job, &data);
  spdlog::debug("memory estimate of job '{}': {}", job.name, est.describe());
  const auto ram = physical_memory_bytes();
  if (job.nodes.empty()) {
    return check_memory(job, est.in_process(), "job '" + job.name + "'", ram, &est);
  }
  check_memory(job, est.data + est.evaluator, "the scheduler of job '" + job.name + "'", ram, &est);
}

// A worker pulls and pushes a shard's part of a dense table in one message:
// a part past the wire format's limit (2^26 floats) trained nothing and
// failed the job at its first pull ("exceeds one message; split it").
void check_dense_parts_fit(const job_config& job) {
  constexpr std::uint64_t most = max_payload_bytes / sizeof(float);
  for (const auto& t : workload_tables(job)) {
    if (t.kind != table_kind::dense) continue;
    const std::uint64_t part = (t.size + job.shards - 1) / job.shards;
    if (part <= most) continue;
    const auto shards = (t.size + most - 1) / most;
    throw troupe_error(errc::bad_config,
                       "table '" + t.name + "' has " + std::to_string(t.size) +
                           " values: a shard's part of " + std::to_string(part) +
                           " exceeds what one message carries (2^26 floats); train.shards = " +
                           std::to_string(shards) + " at least, or a smaller model");
  }
}

// A bounded sparse table ([model] max_rows, or a table's own bound) must
// hold the rows one evaluation reads from a shard, all in one request: the
// job otherwise trained until its first evaluation and then failed
// ("322 rows in one request, but table 'user_embedding' holds at most 300").
void check_evaluation_fits(const job_config& job, std::shared_ptr<const workload_data> data) {
  const auto tables = workload_tables(job);
  if (std::none_of(tables.begin(), tables.end(), [](const table_spec& t) {
        return t.kind == table_kind::sparse && t.max_rows > 0;
      })) {
    return;
  }
  auto wl = make_eval_workload(job, std::move(data));
  wl->prepare_eval();
  for (const auto& op : plan_exchange(*wl, job.shards)) {
    // The job's tables: [model] max_rows applied (the workload's own are not).
    const auto& name = wl->tables().at(op.table).name;
    const auto it = std::find_if(tables.begin(), tables.end(),
                                 [&](const table_spec& t) { return t.name == name; });
    if (it == tables.end()) continue;
    const auto& t = *it;
    if (!op.sparse || t.max_rows == 0 || op.keys.size() <= t.max_rows) continue;
    throw troupe_error(errc::bad_config, "model.max_rows: table '" + t.name + "' holds at most " +
                                             std::to_string(t.max_rows) +
                                             " rows per shard, but an evaluation reads " +
                                             std::to_string(op.keys.size()) +
                                             " of them from shard " + std::to_string(op.shard) +
                                             " at once; raise max_rows or add shards");
  }
}

// A run resuming from another directory's checkpoints: this directory's
// own (an earlier run's) would out-prune them (newer clocks win) and be
// what a later --resume of it restores: set aside, one generation kept.
void set_aside_checkpoints(const job_config& job) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto checkpoints = fs::path(job.output_dir) / "checkpoints";
  if (fs::weakly_canonical(job.resume_from, ec) == fs::weakly_canonical(checkpoints, ec)) return;
  if (fs::is_symlink(checkpoints, ec)) {
    // Pointing where the nodes keep them: not ours to move.
    spdlog::warn("{} is a link: an earlier run's checkpoints in it stay where they are",
                 checkpoints.string());
  } else if (fs::is_directory(checkpoints, ec) && !fs::is_empty(checkpoints, ec)) {
    const auto previous = checkpoints.string() + ".previous";
    fs::remove_all(previous, ec);
    fs::rename(checkpoints, previous, ec);
    if (ec) {
      // A mount point, say: the run goes on beside them, as it did before.
      spdlog::warn("cannot set the earlier run's checkpoints in {} aside ({}); they stay",
                   checkpoints.string(), ec.message());
    } else {
      spdlog::warn("{} held an earlier run's checkpoints: moved to {} (this run resumes from {})",
                   checkpoints.string(), previous, job.resume_from);
    }
  }
}

}  // namespace

job_summary run_job(const job_config& job_file) {
  validate(job_file);
  const auto t0 = std::chrono::steady_clock::now();
  auto data = load_workload_data(job_file);
  // The model's input width and outputs come from (and are checked against)
  // the data before anything runs; the fitted job is what nodes receive.
  job_config job = job_file;
  fit_job_to_data(job, *data);
  settle_target_metric(job);
  workload_tables(job);        // throws when [update.<name>] names no table of the model
  check_dense_parts_fit(job);  // whatever the machine: before its memory is counted
  check_job_memory(job, *data);
  check_evaluation_fits(job, data);
  if (job.backend == kernels::backend_kind::automatic && job.nodes.empty()) {
    // `auto` falls back to the CPU quietly only where there is no GPU.
    if (const auto why = kernels::cuda_fallback_reason(); !why.empty()) {
      spdlog::warn(
          "backend auto: this machine has a GPU, but the CUDA backend cannot use it "
          "({}); the workers train on the CPU",
          why);
    }
  }
  const double baseline = baseline_score(*data);
  const double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (brings_own_data(job.model_kind)) {
    // A user's workload kind that brings its own data: [data] is not read.
    spdlog::info("model '{}' brings its own data (prepared in {:.2f} s)", job.model_kind, load_s);
  } else {
    spdlog::info("loaded {} train, {} validation and {} test rows of {} in {:.2f} s",
                 data->train_rows(), data->validation_rows(), data->test_rows(),
                 job.data.from_files() ? job.data.train : job.data_set, load_s);
  }
  for (const auto& note : unread_settings_warnings(job)) spdlog::warn("{}", note);
  std::vector<std::string> noted;  // a test set split off the training file shares its notes
  for (const auto* d :
       {data->dense_train.get(), data->dense_validation.get(), data->dense_test.get()}) {
    for (const auto& note : d ? d->notes : std::vector<std::string>{}) {
      if (std::find(noted.begin(), noted.end(), note) != noted.end()) continue;
      noted.push_back(note);
      spdlog::warn("{}", note);
    }
  }
  if (data->dense_train && job.data.from_files() && job.data.header == -1) {
    for (const auto& note : numeric_header_warnings(
             {data->dense_train.get(), data->dense_validation.get(), data->dense_test.get()})) {
      spdlog::warn("{}", note);
    }
  }
  if (data->dense_train && job.data.from_files()) {
    for (const auto& note : untrained_classes_warnings(
             *data->dense_train,
             {{data->dense_test.get(), "test"}, {data->dense_validation.get(), "validation"}})) {
      spdlog::warn("{}", note);
    }
  }
  // Not on a cut of the file (--train-limit): its first rows may leave
  // classes out by chance.
  if (data->dense_train && job.data.from_files() && job.train_limit == 0) {
    if (const auto note = unused_classes_warning(
            {data->dense_train.get(), data->dense_test.get(), data->dense_validation.get()});
        !note.empty()) {
      spdlog::warn("{}", note);
    }
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  // Group-writable below a shared directory (engine/shared_dir.hpp): node
  // daemons, running as a user of their own, write checkpoints into it.
  if (auto made = make_shared_dir(job.output_dir); !made) {
    throw troupe_error(made.code(), made.message());
  }
  // Held until the run ends: before anything in the directory is touched.
  const auto lock = output_lock::acquire(job.output_dir);
  if (!lock.held()) {
    spdlog::warn("{} is on a file system without locks: nothing keeps a second run out of it",
                 job.output_dir);
  }
  // Before anything moves: a user's own file under a run's name (a job file
  // with comments, notes in summary.txt) was moved into previous/ and lost
  // with the next run, or overwritten at once.
  refuse_files_of_no_run(job.output_dir, job.job_file);
  if (job.resume_from.empty()) {
    // A fresh run: an earlier one in this directory goes aside whole (its
    // checkpoints would out-prune this run's and be what a later --resume
    // restores; its best/ would outlive this run's; its metrics and summary
    // were overwritten).
    const auto moved = set_aside_earlier_run(job.output_dir);
    if (!moved.what.empty()) {
      std::string names;
      for (const auto& n : moved.what) names += (names.empty() ? "" : ", ") + n;
      spdlog::warn("{} held an earlier run ({}): moved to {} (this run starts afresh{})",
                   job.output_dir, names, moved.to,
                   moved.resumable
                       ? "; to go on with the earlier one: troupe train --resume " + moved.to
                       : "");
    }
    for (const auto& n : moved.left) spdlog::warn("{}: an earlier run's {}", job.output_dir, n);
  } else {
    // Resuming from another directory's checkpoints: this directory's own
    // would out-prune them (newer clocks win), so they go aside.
    set_aside_checkpoints(job);
  }
  std::optional<resume_point> resume;
  if (!job.resume_from.empty()) {
    resume = choose_resume_point(job);
    // The epochs trained again would appear twice in metrics.csv (and its
    // time went back to 0): their rows are set aside, the others kept.
    resume->history = keep_metrics_before_epoch(job.output_dir + "/metrics.csv", resume->epoch);
    // A lower bound: metrics.csv has a row every log_every clocks, and the
    // run goes on from the start of the checkpoint's epoch, before it (the
    // count said "0 clocks are lost" of runs that lost dozens).
    const auto last = resume->history.last_clock;
    spdlog::warn("resuming job '{}' from the checkpoint of clock {}, at the start of epoch {}{}",
                 job.name, resume->clock, resume->epoch + 1,
                 last >= 0 ? "; the interrupted run had reached clock " + std::to_string(last) +
                                 " or later: those clocks and the epoch's earlier ones are "
                                 "trained again"
                           : std::string{});
    if (!resume->data.empty()) {
      // Not refused: training on from a checkpoint with new data is a
      // choice (more rows, say), but never one made without a word.
      if (const auto now = data_signature(*data); now != resume->data) {
        spdlog::warn(
            "resume: the data differs from what the checkpoint was trained on (then {}, now {}): "
            "metrics.csv's rows before and after this point score different data",
            resume->data, now);
      }
    }
    if (resume->history.rows_set_aside > 0) {
      spdlog::info(
          "metrics.csv: {} rows of the epochs trained again moved to metrics-interrupted.csv; "
          "{} rows kept, its time goes on from {:.1f} s",
          resume->history.rows_set_aside, resume->history.rows_kept, resume->history.time_offset_s);
    }
  }

  {
    // Also the check that the directory takes files: metrics.csv and the
    // summary go there too. After the resume point is chosen: a refused
    // resume leaves the interrupted run's job.toml as it was.
    std::ofstream out(job.output_dir + "/job.toml");
    out << run_job_header << "\n" << to_toml(job);
    out.flush();
    if (!out) {
      throw troupe_error(errc::io_error, "cannot write into the output directory " +
                                             job.output_dir + " (" + std::strerror(errno) +
                                             "): choose another with -o/--out");
    }
    // An earlier run's results would otherwise stand beside this run's
    // job.toml, as if it had ended with them, should this one fail.
    for (const char* stale : {"/summary.txt", "/report.txt"}) {
      fs::remove(job.output_dir + stale, ec);
    }
  }
  actor_config cfg(job.threads, peer_timeout_of(job.peer_timeout_s));
  if (job.pin_threads) enable_thread_pinning(cfg);
  if (job.tls.enabled()) {
    const auto who = enable_tls(cfg, job.tls);
    spdlog::info("TLS to the nodes as {} (certificate valid until {})", who.subject, who.not_after);
  }
  caf::actor_system sys{cfg};
  job_summary summary;
  caf::error failure;
  {
    caf::scoped_actor self{sys};
    // The nodes admit this process for as long as `self` lives: keep it for the job.
    auto nodes = connect_nodes(sys, self, job);
    std::shared_ptr<metrics_exporter> metrics;
    if (!job.metrics_listen.empty()) {
      metrics = std::make_shared<metrics_exporter>(job.metrics_listen);
      spdlog::info("job metrics on port {}", metrics->port());
    }
    const auto placed_on = nodes;
    auto scheduler = spawn_scheduler(sys, job, std::move(data), std::move(nodes), resume, metrics);
    self->monitor(scheduler);
    // The scheduler is local and a job may legitimately run for hours.
    self->request(scheduler, caf::infinite, run_atom::value)
        .receive([&](const job_summary& s) { summary = s; },
                 [&](caf::error& err) { failure = std::move(err); });
    if (!placed_on.empty()) wait_for_release(self, placed_on, scheduler);
  }
  if (failure) {
    // The scheduler's own errors carry their code and message: no second prefix.
    if (failure.category() == troupe_error_category() &&
        failure.context().match_elements<std::string>()) {
      throw troupe_error(static_cast<errc>(failure.code()),
                         failure.context().get_as<std::string>(0));
    }
    throw troupe_error(errc::stopped, describe(failure));
  }
  summary.baseline = baseline;
  if (resume) summary.resumed_from_clock = resume->clock;
  std::ofstream(job.output_dir + "/summary.txt") << summary_line(summary) << "\n";
  if (!summary.eval_report.empty()) {
    std::ofstream(job.output_dir + "/report.txt") << summary.eval_report;
  }
  return summary;
}

}  // namespace troupe
