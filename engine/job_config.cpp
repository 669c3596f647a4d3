#include "engine/job_config.hpp"

#include <toml++/toml.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "engine/errors.hpp"
#include "engine/job_sections.hpp"
#include "engine/job_update_section.hpp"
#include "engine/store/optimizer.hpp"
#include "engine/straggler.hpp"
#include "engine/toml_read.hpp"
#include "engine/workloads/workload_registry.hpp"

namespace troupe {

namespace {

using namespace toml_read;

std::set<std::string> plus(std::set<std::string> keys, const std::set<std::string>& more) {
  keys.insert(more.begin(), more.end());
  return keys;
}

const toml::table* section(const toml::table& root, const char* name, const std::string& src) {
  const auto* node = root.get(name);
  if (node == nullptr) return nullptr;
  if (!node->is_table()) bad(src, name, "expected a table ([" + std::string(name) + "])");
  return node->as_table();
}

}  // namespace

std::int64_t parse_staleness(const std::string& text) {
  if (text == "inf" || text == "infinity" || text == "unbounded") return staleness_unbounded;
  try {
    std::size_t pos = 0;
    const long long v = std::stoll(text, &pos);
    if (pos == text.size() && v >= 0) return v;
  } catch (const std::exception&) {
  }
  throw troupe_error(errc::bad_config, "--staleness / train.staleness: '" + text +
                                           "' is neither an integer >= 0 nor \"inf\"");
}

std::string staleness_to_string(std::int64_t staleness) {
  return staleness == staleness_unbounded ? "inf" : std::to_string(staleness);
}

namespace {

// A job file that names neither job nor output directory took the
// reference job's ("fashion_mlp", runs/fashion_mlp) whatever it trained:
// a plugin's model was logged as fashion_mlp and every such job wrote into
// one directory. It is named after its model and data instead, and writes
// under runs/ by that name.
void name_unnamed_job(const toml::table& root, job_config& job) {
  const auto* t = root["job"].as_table();
  const bool named = t != nullptr && t->contains("name");
  const bool placed = t != nullptr && t->contains("output_dir");
  if (!named) job.name = default_job_name(job);
  if (!placed) job.output_dir = "runs/" + job.name;
}

}  // namespace

std::string default_job_name(const job_config& job) {
  const job_config reference;
  if (job.model_kind == reference.model_kind && !job.data.from_files() &&
      job.data_set == reference.data_set) {
    return reference.name;
  }
  if (brings_own_data(job.model_kind)) return job.model_kind;  // [data] names nothing it reads
  std::string data = job.data_set;
  if (job.data.from_files()) {
    auto file = std::filesystem::path(job.data.train);
    if (file.extension() == ".gz") file = file.stem();
    data = file.stem().string();
  }
  return job.model_kind + (data.empty() ? "" : "_" + data);
}

job_config parse_job_config(std::string_view text, const std::string& src, bool check) {
  toml::table root;
  try {
    root = toml::parse(text, src);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << src << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
        << e.description();
    throw troupe_error(errc::bad_config, msg.str());
  }
  check_keys(root, src, "",
             {"job", "data", "model", "train", "cluster", "params", "update", "limits"});
  job_config job;
  if (const auto* t = section(root, "job", src)) {
    check_keys(*t, src, "job",
               {"name", "epochs", "seed", "output_dir", "target_metric", "target_accuracy",
                "target_loss", "log_every", "eval_every", "checkpoint_every"});
    read_string(*t, "name", "job", src, job.name);
    read_int(*t, "epochs", "job", src, job.epochs, 1, 100000);
    read_int(*t, "seed", "job", src, job.seed, 0, std::numeric_limits<long long>::max());
    read_string(*t, "output_dir", "job", src, job.output_dir);
    read_string(*t, "target_metric", "job", src, job.target_metric);
    job.target_metric_given = t->contains("target_metric");
    read_double(*t, "target_accuracy", "job", src, job.target_accuracy);
    read_double(*t, "target_loss", "job", src, job.target_loss);
    read_int(*t, "log_every", "job", src, job.log_every, 1, 1000000);
    read_int(*t, "eval_every", "job", src, job.eval_every, 0, 100000000);
    read_int(*t, "checkpoint_every", "job", src, job.checkpoint_every, 0, 100000000);
  }
  if (const auto* t = section(root, "data", src)) {
    check_keys(*t, src, "data",
               plus({"set", "dir", "train_limit", "test_limit", "test_fraction", "split_seed",
                     "min_count", "subsample"},
                    data_spec_keys()));
    read_data_spec(*t, src, job.data);
    if (job.data.from_files() && t->get("set") == nullptr) job.data_set = "files";
    read_string(*t, "set", "data", src, job.data_set);
    read_string(*t, "dir", "data", src, job.data_dir);
    read_int(*t, "train_limit", "data", src, job.train_limit, 0, 1LL << 40);
    read_int(*t, "test_limit", "data", src, job.test_limit, 0, 1LL << 40);
    read_double(*t, "test_fraction", "data", src, job.test_fraction);
    read_int(*t, "split_seed", "data", src, job.split_seed, 0,
             std::numeric_limits<long long>::max());
    read_int(*t, "min_count", "data", src, job.min_count, 1, 1000000);
    read_double(*t, "subsample", "data", src, job.subsample);
  }
  if (const auto* t = section(root, "model", src)) {
    check_keys(*t, src, "model",
               plus({"kind", "layers", "dim", "l2", "max_rows", "window", "negatives", "stages",
                     "micro_batches"},
                    model_spec_keys()));
    read_model_spec(*t, src, job);
    read_int(*t, "stages", "model", src, job.stages, 1, 4096);
    read_int(*t, "micro_batches", "model", src, job.micro_batches, 1, 1 << 20);
    read_int(*t, "max_rows", "model", src, job.max_rows, 0, 1LL << 40);
    read_string(*t, "kind", "model", src, job.model_kind);
    read_int(*t, "dim", "model", src, job.embedding_dim, 1, 4096);
    read_double(*t, "l2", "model", src, job.l2);
    read_int(*t, "window", "model", src, job.window, 1, 100);
    read_int(*t, "negatives", "model", src, job.negatives, 1, 100);
    if (const auto* node = t->get("layers")) {
      const auto* arr = node->as_array();
      if (arr == nullptr) bad(src, "model.layers", "expected an array of layer sizes");
      job.model.sizes.clear();
      for (const auto& el : *arr) {
        const auto v = integer_of(el);
        // 0 at either end: the input width or the outputs come from the data.
        const bool end = job.model.sizes.empty() || &el == &arr->back();
        if (!v || *v < (end ? 0 : 1) || *v > (1 << 24)) {
          bad(src, "model.layers",
              "every layer size must be an integer from 1 to 16777216 (2^24; 0 at either end: "
              "from the data)");
        }
        job.model.sizes.push_back(static_cast<int>(*v));
      }
    }
  }
  if (const auto* t = section(root, "train", src)) {
    check_keys(*t, src, "train",
               plus({"workers", "shards", "staleness", "batch", "backend", "optimizer",
                     "learning_rate", "momentum", "weight_decay", "stragglers", "threads",
                     "pin_threads", "prefetch", "stage_batches", "compute_slots"},
                    validation_spec_keys()));
    read_validation_spec(*t, src, job);
    read_int(*t, "workers", "train", src, job.workers, 1, 4096);
    read_int(*t, "shards", "train", src, job.shards, 1, 4096);
    read_int(*t, "batch", "train", src, job.batch, 1, 1 << 20);
    if (const auto* node = t->get("staleness")) {
      if (node->is_integer()) {
        const auto v = *node->value<long long>();
        if (v < 0) bad(src, "train.staleness", "must be >= 0 or \"inf\"");
        job.staleness = v;
      } else if (node->is_string()) {
        const auto text = *node->value<std::string>();
        try {
          job.staleness = parse_staleness(text);
        } catch (const troupe_error&) {
          bad(src, "train.staleness", "'" + text + "' is neither an integer >= 0 nor \"inf\"");
        }
      } else {
        bad(src, "train.staleness", "expected an integer or \"inf\"");
      }
    }
    std::string backend, optimizer;
    read_string(*t, "backend", "train", src, backend);
    read_string(*t, "optimizer", "train", src, optimizer);
    // Present but empty is a mistake, not the default.
    for (const auto& [key, value] : {std::pair{"backend", &backend}, {"optimizer", &optimizer}}) {
      if (t->contains(key) && value->empty()) {
        bad(src, std::string("train.") + key, "an empty value");
      }
    }
    try {
      if (!backend.empty()) job.backend = kernels::parse_backend_kind(backend);
    } catch (const std::invalid_argument& e) {
      bad(src, "train.backend", e.what());
    }
    try {
      if (!optimizer.empty()) job.optimizer.kind = parse_optimizer_kind(optimizer);
    } catch (const std::invalid_argument& e) {
      bad(src, "train.optimizer", e.what());
    }
    read_float(*t, "learning_rate", "train", src, job.optimizer.learning_rate);
    read_float(*t, "momentum", "train", src, job.optimizer.momentum);
    read_float(*t, "weight_decay", "train", src, job.optimizer.weight_decay);
    read_string(*t, "stragglers", "train", src, job.stragglers);
    read_int(*t, "threads", "train", src, job.threads, 0, 1024);
    read_bool(*t, "pin_threads", "train", src, job.pin_threads);
    read_bool(*t, "prefetch", "train", src, job.prefetch);
    read_bool(*t, "stage_batches", "train", src, job.stage_batches);
    read_int(*t, "compute_slots", "train", src, job.compute_slots, 0, 1 << 20);
  }
  if (const auto* t = section(root, "params", src)) read_params(*t, src, job);
  if (const auto* t = section(root, "cluster", src)) {
    check_keys(
        *t, src, "cluster",
        {"nodes", "secret_file", "shard_nodes", "worker_nodes", "replication", "peer_timeout_s",
         "slot_wait_s", "tls_certificate", "tls_key", "tls_ca", "tls_passphrase_file"});
    read_int(*t, "replication", "cluster", src, job.replication, 0, 2);
    read_double(*t, "slot_wait_s", "cluster", src, job.slot_wait_s);
    if (!(job.slot_wait_s >= 0 && job.slot_wait_s <= max_slot_wait_s)) {
      bad(src, "cluster.slot_wait_s", "expected seconds in [0, 86400]");
    }
    read_double(*t, "peer_timeout_s", "cluster", src, job.peer_timeout_s);
    if (job.peer_timeout_s < min_peer_timeout_s || job.peer_timeout_s > max_peer_timeout_s) {
      bad(src, "cluster.peer_timeout_s", "expected seconds in [1, 600]");
    }
    read_string(*t, "secret_file", "cluster", src, job.secret_file);
    read_string(*t, "tls_certificate", "cluster", src, job.tls.certificate);
    read_string(*t, "tls_key", "cluster", src, job.tls.key);
    read_string(*t, "tls_ca", "cluster", src, job.tls.ca);
    read_string(*t, "tls_passphrase_file", "cluster", src, job.tls.passphrase_file);
    if (const auto* node = t->get("nodes")) {
      const auto* arr = node->as_array();
      if (arr == nullptr) bad(src, "cluster.nodes", "expected an array of \"host:port\" strings");
      for (const auto& el : *arr) {
        auto v = el.value<std::string>();
        if (!v) bad(src, "cluster.nodes", "expected an array of \"host:port\" strings");
        job.nodes.push_back(*v);
      }
    }
    for (const char* key : {"shard_nodes", "worker_nodes"}) {
      const auto* node = t->get(key);
      if (node == nullptr) continue;
      const auto* arr = node->as_array();
      if (arr == nullptr)
        bad(src, std::string("cluster.") + key, "expected an array of node indices");
      auto& out = std::string(key) == "shard_nodes" ? job.shard_nodes : job.worker_nodes;
      for (const auto& el : *arr) {
        const auto v = integer_of(el);
        if (!v || *v < 0 || *v > 0xffffffffLL) {
          bad(src, std::string("cluster.") + key, "expected node indices in [0, 2^32)");
        }
        out.push_back(static_cast<std::uint32_t>(*v));
      }
    }
  }
  if (const auto* t = section(root, "update", src)) parse_update_section(*t, src, job);
  if (const auto* t = section(root, "limits", src)) {
    check_keys(*t, src, "limits", {"memory_share"});
    read_double(*t, "memory_share", "limits", src, job.memory_share);
  }
  name_unnamed_job(root, job);
  // A regression has no accuracy: its target is a test RMSE unless the
  // file says otherwise (and validate() refuses "accuracy" for one). Judged
  // by accuracy, a sweep over a regression found every run at its target
  // ("test accuracy >= 0") after three steps.
  const auto* job_table = root["job"].as_table();
  if (job_is_regression(job) && (job_table == nullptr || !job_table->contains("target_metric"))) {
    job.target_metric = "loss";
  }
  if (check) validate(job);
  return job;
}

bool job_is_regression(const job_config& job) {
  return job.model_kind == "mf" || (job.model_kind == "mlp" && is_regression(job.model.loss));
}

job_config load_job_config(const std::string& path, bool check) {
  // An ifstream opens a directory and reads nothing: an empty job, every
  // default, so the reference job ran in its place.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw troupe_error(errc::io_error, "job file " + path + " is a directory");
  }
  std::ifstream in(path);
  if (!in) throw troupe_error(errc::io_error, "cannot read job file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_job_config(ss.str(), path, check);
}

job_config default_job_config() {
  return parse_job_config(default_job_toml(), "<default job>");
}

namespace {

// Model parallelism needs a dense MLP with a layer per stage and a row per
// micro-batch; stages = 1 leaves the data-parallel worker untouched.
template <class Fail>
void validate_pipeline(const job_config& job, Fail fail) {
  if (job.stages == 0) fail("model.stages", "must be at least 1");
  if (job.micro_batches == 0) fail("model.micro_batches", "must be at least 1");
  if (job.stages == 1) return;
  if (job.model_kind != "mlp") fail("model.stages", "only the mlp model can be split into stages");
  const auto layers = job.model.sizes.size() - 1;
  if (job.stages > layers) {
    fail("model.stages", std::to_string(job.stages) + " stages but the model has only " +
                             std::to_string(layers) + " dense layers");
  }
  if (job.micro_batches > job.batch) {
    fail("model.micro_batches", std::to_string(job.micro_batches) +
                                    " micro-batches cannot split a batch of " +
                                    std::to_string(job.batch) + " rows");
  }
}

// The data set or files, the model kind (through the registry of workload
// kinds, which knows what each kind trains on) and the validation keys.
template <class Fail>
void validate_data_and_model(const job_config& job, Fail fail) {
  if (job.data_set != "fashion-mnist" && job.data_set != "spam-assassin" &&
      job.data_set != "movielens" && job.data_set != "brown" && job.data_set != "files") {
    fail("data.set", "unknown data set '" + job.data_set +
                         "' (known: fashion-mnist, spam-assassin, movielens, brown; or give "
                         "data.format and data.train for your own files)");
  }
  if (job.data_set == "files" && !job.data.from_files()) {
    fail("data.format", "data from files needs a format: csv, libsvm, idx, npy or ratings");
  }
  if (job.data_set != "files" && job.data.from_files()) {
    fail("data.set", "give either a built-in data set or data.format with files, not both");
  }
  validate(job.data);
  const auto& kind = workload_kind_of(job.model_kind);
  if (kind.check) kind.check(job);
  if ((job.early_stopping > 0 || job.keep_best) && !has_validation(job)) {
    fail(job.early_stopping > 0 ? "train.early_stopping" : "train.keep_best",
         "needs a validation set: data.validation or data.validation_fraction");
  }
}

}  // namespace

bool has_validation(const job_config& job) {
  if (!job.data.from_files()) return job.data.validation_fraction > 0;
  return !job.data.validation.empty() || job.data.validation_fraction > 0;
}

void validate(const job_config& job) {
  auto fail = [](const std::string& key, const std::string& why) {
    throw troupe_error(errc::bad_config, key + ": " + why);
  };
  if (job.epochs == 0) fail("job.epochs", "must be at least 1");
  if (job.workers == 0) fail("train.workers", "must be at least 1");
  if (job.shards == 0) fail("train.shards", "must be at least 1");
  if (job.batch == 0) fail("train.batch", "must be at least 1");
  if (job.model.sizes.size() < 2) fail("model.layers", "needs an input and an output size");
  if (!(job.optimizer.learning_rate > 0)) fail("train.learning_rate", "must be positive");
  if (job.optimizer.weight_decay < 0) fail("train.weight_decay", "must not be negative");
  // What every node checks again for the shards it hosts: refused here, a
  // job fails before it starts rather than on a cluster only.
  if (auto why = check_optimizer(job.optimizer); !why.empty()) fail("train", why);
  if (job.target_metric != "accuracy" && job.target_metric != "loss") {
    fail("job.target_metric", "'" + job.target_metric + "' is neither accuracy nor loss");
  }
  if (job.target_metric == "accuracy" && job_is_regression(job)) {
    fail("job.target_metric",
         "a regression has no accuracy: use target_metric = \"loss\" with target_loss, a test "
         "RMSE");
  }
  if (job.target_loss < 0) fail("job.target_loss", "must not be negative");
  if (job.target_accuracy < 0 || job.target_accuracy > 1) {
    fail("job.target_accuracy", "must lie in [0, 1]");
  }
  validate_data_and_model(job, fail);
  if (job.window < 1 || job.window > 100) fail("model.window", "must lie in [1, 100]");
  if (job.negatives < 1 || job.negatives > 100) fail("model.negatives", "must lie in [1, 100]");
  if (!(job.subsample >= 0 && job.subsample < 1)) {
    fail("data.subsample", "must lie in [0, 1) (0 keeps every word)");
  }
  if (job.l2 < 0) fail("model.l2", "must not be negative");
  validate_pipeline(job, fail);
  if (!(job.test_fraction > 0 && job.test_fraction < 1)) {
    fail("data.test_fraction", "must lie strictly between 0 and 1");
  }
  if (job.output_dir.empty()) fail("job.output_dir", "must not be empty");
  if (!(job.memory_share > 0 && job.memory_share <= 1)) {
    fail("limits.memory_share", "must lie in (0, 1]");
  }
  // Also for a job built in code: a heartbeat of 0 ms (a timeout under
  // 10 ms) would turn CAF's failure detection off altogether.
  if (!(job.peer_timeout_s >= min_peer_timeout_s && job.peer_timeout_s <= max_peer_timeout_s)) {
    fail("cluster.peer_timeout_s", "must lie in [1, 600] seconds");
  }
  if (!(job.slot_wait_s >= 0 && job.slot_wait_s <= max_slot_wait_s)) {
    fail("cluster.slot_wait_s", "must lie in [0, 86400] seconds");
  }
  for (const auto& address : job.nodes) {
    try {
      parse_address(address);
    } catch (const troupe_error& e) {
      fail("cluster.nodes", e.what());
    }
  }
  if (!job.nodes.empty() && job.secret_file.empty() && !job.tls.enabled()) {
    fail("cluster.secret_file",
         "a cluster needs the secret file shared with its nodes, or TLS files "
         "(tls_certificate, tls_key, tls_ca)");
  }
  if (job.tls.enabled()) {
    if (job.tls.certificate.empty()) fail("cluster.tls_certificate", "TLS needs a certificate");
    if (job.tls.key.empty()) fail("cluster.tls_key", "TLS needs the certificate's private key");
    if (job.tls.ca.empty()) fail("cluster.tls_ca", "TLS needs the cluster CA's certificate");
  }
  for (const auto* list : {&job.shard_nodes, &job.worker_nodes}) {
    for (auto i : *list) {
      if (i >= job.nodes.size()) {
        fail(list == &job.shard_nodes ? "cluster.shard_nodes" : "cluster.worker_nodes",
             "node index " + std::to_string(i) + " but only " + std::to_string(job.nodes.size()) +
                 " nodes");
      }
    }
  }
  try {
    const auto spec = parse_straggler_spec(job.stragglers);
    check_straggler_workers(spec, job.workers);
    if (spec.dai_max_delay && job.nodes.size() >= 2 && job.replication != 1) {
      fail("train.stragglers",
           "the dai protocol's held-back pushes are not deduplicated, so they cannot be "
           "resent on a shard failover: use [cluster] replication = 1 with it");
    }
  } catch (const troupe_error& e) {
    fail("train.stragglers", e.what());
  }
  // A backup applies forwarded pushes without having served the pulls, so
  // it cannot compensate them as its primary did: the replicas would differ.
  bool compensates = job.update.all.kind == update_rule_kind::dcasgd;
  for (const auto& [name, rule] : job.update.tables) {
    compensates = compensates || rule.kind == update_rule_kind::dcasgd;
  }
  if (compensates && job.nodes.size() >= 2 && job.replication != 1) {
    fail("update.rule",
         "dcasgd keeps what each worker pulled on the primary shard only, so its backups would "
         "drift: use [cluster] replication = 1 with it");
  }
}

std::string default_data_dir(const std::string& data_set) {
  if (data_set == "spam-assassin") return "data/spam-assassin";
  if (data_set == "movielens") return "data/movielens";
  if (data_set == "brown") return "data/brown";
  return "/usr/share/datasets/fashion-mnist";
}

std::string resolved_data_dir(const job_config& job) {
  return job.data_dir.empty() ? default_data_dir(job.data_set) : job.data_dir;
}

std::string model_signature(const job_config& job) {
  std::string out = job.model_kind;
  if (job.model_kind != "mlp") return out;
  out += " layers=";
  for (std::size_t i = 0; i < job.model.sizes.size(); ++i) {
    out += (i ? "," : "") + std::to_string(job.model.sizes[i]);
  }
  return out + " activation=" + to_string(job.model.activation) +
         " loss=" + to_string(job.model.loss);
}

std::string to_toml(const job_config& job) {
  using toml_read::quote;
  std::ostringstream out;
  // The job travels to nodes and back into resumed runs as this text: doubles
  // must round-trip exactly and strings must be escaped.
  out.precision(17);
  // The target metric only when it is not what the model implies (loss for
  // a regression, else accuracy): parsed again after `--set model.loss=mse`,
  // a written "accuracy" read as the user's choice and refused the job.
  const bool implied = job.target_metric == (job_is_regression(job) ? "loss" : "accuracy");
  out << "[job]\nname = " << quote(job.name) << "\nepochs = " << job.epochs
      << "\nseed = " << job.seed << "\noutput_dir = " << quote(job.output_dir)
      << (implied ? "" : "\ntarget_metric = " + quote(job.target_metric))
      << "\ntarget_accuracy = " << job.target_accuracy << "\ntarget_loss = " << job.target_loss
      << "\nlog_every = " << job.log_every << "\neval_every = " << job.eval_every
      << "\ncheckpoint_every = " << job.checkpoint_every
      << "\n\n[data]\nset = " << quote(job.data_set) << "\ndir = " << quote(job.data_dir)
      << "\ntrain_limit = " << job.train_limit << "\ntest_limit = " << job.test_limit
      << "\ntest_fraction = " << job.test_fraction << "\nsplit_seed = " << job.split_seed
      << "\nmin_count = " << job.min_count << "\nsubsample = " << job.subsample << "\n"
      << to_toml_lines(job.data) << "\n[model]\nkind = " << quote(job.model_kind)
      << "\ndim = " << job.embedding_dim << "\nl2 = " << job.l2 << "\nmax_rows = " << job.max_rows
      << "\nwindow = " << job.window << "\nnegatives = " << job.negatives
      << "\nstages = " << job.stages << "\nmicro_batches = " << job.micro_batches << "\nlayers = [";
  for (std::size_t i = 0; i < job.model.sizes.size(); ++i) {
    out << (i ? ", " : "") << job.model.sizes[i];
  }
  out << "]\nactivation = \"" << to_string(job.model.activation) << "\"\nloss = \""
      << to_string(job.model.loss) << "\"";
  out << "\n\n[train]\nworkers = " << job.workers << "\nshards = " << job.shards
      << "\nstaleness = ";
  if (job.staleness == staleness_unbounded) {
    out << "\"inf\"";
  } else {
    out << job.staleness;
  }
  const char* backend = job.backend == kernels::backend_kind::cpu    ? "cpu"
                        : job.backend == kernels::backend_kind::cuda ? "cuda"
                                                                     : "auto";
  out << "\nbatch = " << job.batch << "\nbackend = \"" << backend << "\"\noptimizer = \""
      << to_string(job.optimizer.kind) << "\"\nlearning_rate = " << job.optimizer.learning_rate
      << "\nmomentum = " << job.optimizer.momentum
      << "\nweight_decay = " << job.optimizer.weight_decay
      << "\nstragglers = " << quote(job.stragglers) << "\nthreads = " << job.threads
      << "\npin_threads = " << (job.pin_threads ? "true" : "false")
      << "\nprefetch = " << (job.prefetch ? "true" : "false")
      << "\nstage_batches = " << (job.stage_batches ? "true" : "false")
      << "\ncompute_slots = " << job.compute_slots << "\nearly_stopping = " << job.early_stopping
      << "\nkeep_best = " << (job.keep_best ? "true" : "false") << "\n"
      << params_toml(job);
  // Also without nodes: a file may name them by index and leave the
  // addresses to --nodes. Whenever any cluster key is set: overrides
  // (--set, a sweep's grid) go through this text, and a key left out here
  // (replication, TLS files) was silently lost.
  if (!job.nodes.empty() || !job.shard_nodes.empty() || !job.worker_nodes.empty() ||
      !job.secret_file.empty() || job.replication != 0 || job.tls.enabled() ||
      !job.tls.passphrase_file.empty() || job.peer_timeout_s != default_peer_timeout_s ||
      job.slot_wait_s != default_slot_wait_s) {
    auto list = [&](const auto& xs, bool quoted) {
      std::string s = "[";
      for (std::size_t i = 0; i < xs.size(); ++i) {
        std::ostringstream one;
        one << xs[i];
        s += (i ? ", " : "") + (quoted ? quote(one.str()) : one.str());
      }
      return s + "]";
    };
    out << "\n[cluster]\nnodes = " << list(job.nodes, true)
        << "\nsecret_file = " << quote(job.secret_file)
        << "\nshard_nodes = " << list(job.shard_nodes, false)
        << "\nworker_nodes = " << list(job.worker_nodes, false)
        << "\nreplication = " << job.replication << "\n";
    // Only when set: the job's text goes to the nodes, and one built before
    // this key existed refuses keys it does not know.
    if (job.peer_timeout_s != default_peer_timeout_s)
      out << "peer_timeout_s = " << job.peer_timeout_s << "\n";
    if (job.slot_wait_s != default_slot_wait_s) out << "slot_wait_s = " << job.slot_wait_s << "\n";
    if (job.tls.enabled() || !job.tls.passphrase_file.empty()) {
      out << "tls_certificate = " << quote(job.tls.certificate)
          << "\ntls_key = " << quote(job.tls.key) << "\ntls_ca = " << quote(job.tls.ca)
          << "\ntls_passphrase_file = " << quote(job.tls.passphrase_file) << "\n";
    }
  }
  out << update_section_toml(job.update);
  out << "\n[limits]\nmemory_share = " << job.memory_share << "\n";
  return out.str();
}

}  // namespace troupe
