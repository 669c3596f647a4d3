#include "tools/train_command.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "actors/job_runner.hpp"
#include "engine/errors.hpp"
#include "engine/job_config.hpp"
#include "engine/job_overrides.hpp"
#include "tools/finite_range.hpp"
#include "tools/tls_options.hpp"

namespace troupe::cli {

namespace {

// Flags left unset keep the job file's (or the default job's) values.
struct train_options {
  std::string job_file;
  std::optional<std::uint32_t> workers, shards, batch, epochs;
  std::optional<std::string> staleness, optimizer, backend, output_dir, data_dir, stragglers;
  std::optional<std::uint32_t> eval_every, checkpoint_every;
  std::optional<std::uint32_t> stages, micro_batches;
  std::optional<std::string> nodes, secret_file, metrics;
  tls_files tls;  // each flag given overrides the job file's [cluster] tls_*
  std::string resume;
  std::optional<float> learning_rate;
  std::optional<std::int64_t> seed;  // a job file holds signed 64-bit integers
  std::optional<std::uint64_t> train_limit, test_limit;
  std::optional<double> memory_share, peer_timeout_s, slot_wait_s;
  std::vector<std::string> sets;  ///< --set KEY=VALUE, in order
};

// "section.key" -> value of each setting in a job's TOML text (to_toml's).
std::map<std::string, std::string> settings_of(const std::string& toml) {
  std::map<std::string, std::string> out;
  std::istringstream in(toml);
  std::string section, line;
  while (std::getline(in, line)) {
    if (line.size() > 2 && line.front() == '[' && line.back() == ']') {
      section = line.substr(1, line.size() - 2);
      continue;
    }
    const auto eq = line.find(" = ");
    if (eq != std::string::npos) out[section + "." + line.substr(0, eq)] = line.substr(eq + 3);
  }
  return out;
}

// A job file given with --resume replaces the interrupted run's settings,
// and its job.toml is rewritten with them: said, with what changes (flags
// applied), since a resume otherwise continues the run as it was (a file of
// 5 epochs, no stragglers and no checkpoints silently took over a run of 6
// with both).
void warn_replaced_settings(const job_config& was, const std::string& dir, const std::string& file,
                            const job_config& given) {
  const auto before = settings_of(to_toml(was)), after = settings_of(to_toml(given));
  // Both sides' keys: to_toml leaves out what is unset ([cluster], params).
  std::set<std::string> keys;
  for (const auto& [key, value] : before) keys.insert(key);
  for (const auto& [key, value] : after) keys.insert(key);
  std::string changes;
  std::size_t n = 0;
  // A section to_toml leaves out holds its defaults: empty, zero or false.
  const auto value_of = [](const std::map<std::string, std::string>& m, const std::string& key) {
    const auto it = m.find(key);
    return it == m.end() ? std::string("(unset)") : it->second;
  };
  const auto unset = [](const std::string& v) {
    return v == "(unset)" || v == "[]" || v == "\"\"" || v == "0" || v == "false";
  };
  for (const auto& key : keys) {
    // Where it goes, and what the data fills in (the run's file has the
    // sizes, and the data directory the default one resolved).
    if (key == "job.output_dir" || key == "model.layers" || key == "model.hidden") continue;
    const auto old = value_of(before, key), now = value_of(after, key);
    if (old == now || (unset(old) && unset(now))) continue;
    if (key == "data.dir" && (unset(old) || unset(now))) continue;
    if (++n <= 8) changes += (changes.empty() ? "" : ", ") + key + " " + old + " -> " + now;
  }
  if (n == 0) return;
  if (n > 8) changes += ", and " + std::to_string(n - 8) + " more";
  spdlog::warn(
      "resuming {} with the job file {}: its settings (and the flags) replace the interrupted "
      "run's ({}), and {}/job.toml is rewritten with them; leave the file out to resume the run "
      "as it was",
      dir, file, changes, dir);
}

job_config build_job(const train_options& o) {
  job_config job;
  std::optional<job_config> run;  // a resumed run's job.toml, as it was
  if (!o.resume.empty()) {
    try {
      run = load_job_config(o.resume + "/job.toml", false);
    } catch (const troupe_error&) {
      if (o.job_file.empty())
        throw;  // nothing to resume with; else the resume says what is missing
    }
    // The interrupted run's own job file, unless one is given explicitly.
    job = o.job_file.empty() ? *run : load_job_config(o.job_file, false);
    job.output_dir = o.resume;
    job.resume_from = o.resume + "/checkpoints";
  } else {
    // Validated once the flags are applied: --nodes may supply what
    // [cluster] shard_nodes refers to.
    job = o.job_file.empty() ? default_job_config() : load_job_config(o.job_file, false);
  }
  std::vector<job_override> overrides;
  for (const auto& text : o.sets) overrides.push_back(parse_job_override(text));
  job = apply_job_overrides(job, overrides, false);
  if (run && std::none_of(overrides.begin(), overrides.end(),
                          [](const auto& ov) { return ov.key == "job.name"; })) {
    // The checkpoints carry the run's name: a name taken from the data
    // (`--set data.train=` another file, or a job file's) made every set
    // "belong to another job", and the resume found nothing to resume.
    job.name = run->name;
  }
  if (o.workers) job.workers = *o.workers;
  if (o.shards) job.shards = *o.shards;
  if (o.batch) job.batch = *o.batch;
  if (o.epochs) job.epochs = *o.epochs;
  if (o.staleness) job.staleness = parse_staleness(*o.staleness);
  if (o.learning_rate) job.optimizer.learning_rate = *o.learning_rate;
  if (o.seed) job.seed = static_cast<std::uint64_t>(*o.seed);
  if (o.output_dir) job.output_dir = *o.output_dir;
  job.job_file = o.job_file;
  if (o.data_dir) job.data_dir = *o.data_dir;
  if (o.train_limit) job.train_limit = *o.train_limit;
  if (o.test_limit) job.test_limit = *o.test_limit;
  if (o.stragglers) job.stragglers = *o.stragglers;
  if (o.eval_every) job.eval_every = *o.eval_every;
  if (o.checkpoint_every) job.checkpoint_every = *o.checkpoint_every;
  if (o.stages) job.stages = *o.stages;
  if (o.micro_batches) job.micro_batches = *o.micro_batches;
  if (o.secret_file) job.secret_file = *o.secret_file;
  if (!o.tls.certificate.empty()) job.tls.certificate = o.tls.certificate;
  if (!o.tls.key.empty()) job.tls.key = o.tls.key;
  if (!o.tls.ca.empty()) job.tls.ca = o.tls.ca;
  if (!o.tls.passphrase_file.empty()) job.tls.passphrase_file = o.tls.passphrase_file;
  if (o.metrics) job.metrics_listen = *o.metrics;
  if (o.memory_share) job.memory_share = *o.memory_share;
  if (o.peer_timeout_s) job.peer_timeout_s = *o.peer_timeout_s;
  if (o.slot_wait_s) job.slot_wait_s = *o.slot_wait_s;
  if (o.nodes) {
    job.nodes.clear();
    std::stringstream ss(*o.nodes);
    for (std::string address; std::getline(ss, address, ',');) {
      if (!address.empty()) job.nodes.push_back(address);
    }
  }
  // A pipeline's knob on a data-parallel job would silently do nothing.
  if (o.micro_batches && job.stages == 1) {
    throw troupe_error(errc::bad_config,
                       "--micro-batches cuts each batch for a pipeline of --stages 2 or more; "
                       "this job has 1 stage (data parallelism alone)");
  }
  try {
    if (o.optimizer) job.optimizer.kind = parse_optimizer_kind(*o.optimizer);
    if (o.backend) job.backend = kernels::parse_backend_kind(*o.backend);
  } catch (const std::invalid_argument& e) {
    throw troupe_error(errc::bad_config, e.what());
  }
  if (o.data_dir && job.data.from_files()) {
    // It did nothing: the job's files are read where data.train names them.
    throw troupe_error(errc::bad_config,
                       "--data-dir is the directory of a built-in data set (data.set); this job "
                       "reads its own files (data.train = \"" +
                           job.data.train +
                           "\"): give their paths in the job file (a relative one is from the "
                           "working directory)");
  }
  validate(job);
  // The job goes to job.toml, and a resume reads it back: flags may not set
  // what the job file cannot hold (--eval-every beyond 1e8, say).
  try {
    (void)parse_job_config(to_toml(job), "the flags", true);
  } catch (const troupe_error& e) {
    throw troupe_error(
        errc::bad_config,
        std::string("a flag's value is beyond what the job file allows: ") + e.what());
  }
  if (run && !o.job_file.empty()) warn_replaced_settings(*run, o.resume, o.job_file, job);
  return job;
}

}  // namespace

std::function<int()> add_train_command(CLI::App& app) {
  auto opts = std::make_shared<train_options>();
  auto* cmd = app.add_subcommand(
      "train",
      "Train a model in this process: scheduler, parameter shards and workers are actors of one "
      "actor system. Without a job file, runs the reference Fashion-MNIST MLP job "
      "(examples/fashion_mlp.toml). Flags override the job file. Exit codes: 0 trained; 1 the "
      "job failed while it ran (a diverging model, a workload's exception); 2 the job cannot run "
      "as given (a bad flag or job file, missing data or files); 3 a node refused the secret; 4 "
      "a node could not be reached, was lost or had no free slot (trying again later may "
      "work).");
  cmd->add_option("job", opts->job_file, "TOML job file (default: the embedded reference job)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", opts->sets,
                  "set any job key by its dotted TOML path, validated like the job file, e.g. "
                  "--set model.dim=64 --set train.learning_rate=0.01 (repeatable; applied after "
                  "the job file, before the other flags)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  cmd->add_option("-w,--workers", opts->workers, "number of worker actors")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("-s,--shards", opts->shards, "number of parameter-shard actors")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--staleness", opts->staleness,
                  "staleness bound: an integer (0 = synchronous SGD) or 'inf' (asynchronous SGD)");
  cmd->add_option("--lr,--learning-rate", opts->learning_rate, "learning rate of the optimizer")
      ->check(positive_finite("a positive finite learning rate"));
  cmd->add_option("-b,--batch", opts->batch, "mini-batch size per worker step")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("-e,--epochs", opts->epochs, "passes over the training set")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--optimizer", opts->optimizer, "server-side optimizer")
      ->check(CLI::IsMember({"sgd", "momentum", "adagrad", "adam"}));
  cmd->add_option("--seed", opts->seed, "random seed (initialisation, partitions, shuffling)")
      ->check(
          [](const std::string& v) -> std::string {
            // Checked as text: CLI11 reads 2^64 - 1 as the largest int64.
            std::int64_t n = 0;
            const auto r = std::from_chars(v.data(), v.data() + v.size(), n);
            if (r.ec == std::errc{} && r.ptr == v.data() + v.size() && n >= 0) return {};
            return "a seed is a whole number from 0 to 9223372036854775807 (what a job file "
                   "holds), not '" +
                   v + "'";
          },
          "0..2^63-1");
  cmd->add_option("--backend", opts->backend, "compute backend of the workers")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  cmd->add_option("-o,--out", opts->output_dir,
                  "output directory for job.toml, metrics.csv and summary.txt");
  cmd->add_option("--data-dir", opts->data_dir, "directory of the data set files");
  cmd->add_option("--train-limit", opts->train_limit,
                  "use only the first N training rows (0: all)");
  cmd->add_option("--test-limit", opts->test_limit, "use only the first N test rows (0: all)");
  cmd->add_option(
      "--stragglers", opts->stragglers,
      "straggler spec: none, fixed:worker=W,factor=F, "
      "random:dist=exp|uniform,mean_ms=M[,workers=all|W], dai:max_delay=D; join with +");
  cmd->add_option("--nodes", opts->nodes,
                  "comma-separated HOST:PORT of troupe node daemons: run shards and workers there "
                  "instead of in this process (overrides [cluster] nodes)");
  cmd->add_option("--metrics", opts->metrics,
                  "serve the job's Prometheus metrics (failovers, replaced workers, resent pushes) "
                  "on HOST:PORT");
  cmd->add_option("--secret", opts->secret_file,
                  "file with the cluster secret the nodes were started with");
  cmd->add_option("--peer-timeout", opts->peer_timeout_s,
                  "seconds a silent node stays connected before it counts as lost (heartbeats "
                  "every tenth of it; default 1; the same on every node). A new connection's "
                  "handshake must beat the next heartbeat: for links with round trips over "
                  "~25 ms give about 40 times the round trip, 60 under TLS (overrides [cluster] "
                  "peer_timeout_s)")
      ->check(seconds_within(min_peer_timeout_s, max_peer_timeout_s));
  cmd->add_option("--slot-wait", opts->slot_wait_s,
                  "seconds the job waits for free slots on its nodes while other jobs hold them "
                  "(default 60; 0 = fail at once; overrides [cluster] slot_wait_s)")
      ->check(seconds_within(0, max_slot_wait_s));
  add_tls_options(*cmd, opts->tls);
  cmd->add_option("--resume", opts->resume,
                  "continue the run in this output directory from its last complete checkpoint "
                  "(needs [job] checkpoint_every > 0 in the interrupted run)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--checkpoint-every", opts->checkpoint_every,
                  "shards write a checkpoint every N clocks of the slowest worker (0 = never)");
  cmd->add_option("--stages", opts->stages,
                  "pipeline stages per model replica (model parallelism; mlp only)");
  cmd->add_option("--micro-batches", opts->micro_batches,
                  "micro-batches each pipelined batch is cut into");
  cmd->add_option("--memory-share", opts->memory_share,
                  "share of this machine's memory the job may plan to use; a job estimated to "
                  "need more is refused before it starts (default 0.8)")
      ->check(finite_within(0.001, 1.0, "a share"));
  cmd->add_option("--eval-every", opts->eval_every,
                  "also evaluate every N clocks of the slowest worker (0 = at epoch ends only)");
  return [cmd, opts]() -> int {
    if (!cmd->parsed()) return -1;
    try {
      const auto job = build_job(*opts);
      const auto summary = run_job(job);
      spdlog::info("results in {}/ (job.toml, metrics.csv, summary.txt{})", job.output_dir,
                   summary.eval_report.empty() ? "" : ", report.txt");
      if (!summary.eval_report.empty()) std::cout << summary.eval_report;  // also in report.txt
      std::cout << summary_line(summary) << std::endl;
      return 0;
    } catch (const troupe_error& e) {
      spdlog::error("{}: {}", to_string(e.code()), e.what());
      return exit_code_of(e.code());
    }
  };
}

int exit_code_of(errc code) {
  switch (code) {
    case errc::bad_config:
    case errc::missing_dataset:
    case errc::io_error:
      return 2;
    case errc::auth_failed:
      return 3;
    case errc::peer_lost:
    case errc::timeout:
    case errc::node_stopping:
    case errc::no_capacity:
      return 4;
    default:
      return 1;
  }
}

}  // namespace troupe::cli
