// An embedding service on Troupe's public API: it keeps training word
// vectors from a stream of events (Brown corpus sentences, skip-gram with
// negative sampling) while answering lookups and nearest-neighbour queries
// from the live tables, and a built-in load generator measures how lookups
// fare while training runs.
//
//   sentence stream --> trainer threads --lookup rows, SGNS gradient, push--> engine
//                                                                            (shards,
//   load generator  --lookup(ids), timed from the scheduled send---------->  word_in,
//   neighbour query --lookup(all words), cosine top-k---------------------->  word_out)
//
// Phases: "idle" (queries only, the baseline), then "training" (queries while
// the trainers stream sentences). Latency is measured open-loop: each query
// has a scheduled send time and its latency counts from then, so a stalled
// engine shows up as queueing instead of silently lowering the load.
//
//   build/examples/embedding_service --seconds 20 --query-threads 4 --qps 500
//
// The corpus helpers (engine/data/brown_corpus.hpp, engine/workloads/sgns.hpp) are Troupe's
// own; everything the service does with the engine goes through
// <troupe/engine.hpp> and <troupe/client.hpp>.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/auth.hpp"
#include "engine/data/brown_corpus.hpp"
#include "engine/data/word_pairs.hpp"
#include "engine/errors.hpp"  // troupe_error from the corpus loader
#include "engine/workloads/embedding_check.hpp"
#include "engine/workloads/sgns.hpp"
#include "troupe/client.hpp"
#include "troupe/engine.hpp"

namespace {

using steady = std::chrono::steady_clock;

struct service_options {
  std::string corpus = "data/brown";
  std::uint32_t min_count = 5;
  std::uint32_t dim = 64;
  std::uint32_t shards = 2;
  std::uint32_t trainers = 2;
  std::uint32_t batch = 256;  ///< centre words per training step
  std::uint32_t window = 5;
  std::uint32_t negatives = 5;
  float learning_rate = 0.1f;
  double idle_seconds = 3;
  double seconds = 20;
  std::uint32_t query_threads = 4;
  double qps = 500;               ///< lookups per second per query thread
  std::uint32_t lookup_rows = 8;  ///< ids per lookup
  double neighbour_every_s = 0.5;
  std::vector<std::string> words{"monday", "three", "man", "day", "war", "said"};
  std::uint64_t seed = 42;
  std::string connect;      ///< HOST:PORT of a `troupe serve`; empty: an engine in this process
  std::string secret_file;  ///< with connect: the shared secret
};

/// Failed calls of every thread: counted, and the first one kept to say
/// what went wrong (one line is enough).
class failure_log {
 public:
  void add(const troupe::api_error& e) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (count_++ == 0) first_ = e.to_string();
  }
  std::uint64_t count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return count_;
  }
  std::string first() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return first_;
  }

 private:
  mutable std::mutex mutex_;
  std::uint64_t count_ = 0;
  std::string first_;
};

/// Latencies of one kind of call, merged from the threads that made them.
class latency_log {
 public:
  void add(const std::vector<double>& ms) {
    std::lock_guard<std::mutex> lock(mutex_);
    ms_.insert(ms_.end(), ms.begin(), ms.end());
  }
  std::size_t count() const { return ms_.size(); }
  failure_log failures;
  /// "p50 0.12 p90 0.30 p99 1.20 p99.9 4.00 max 9.10" (milliseconds).
  std::string percentiles() {
    if (ms_.empty()) return "no samples";
    std::sort(ms_.begin(), ms_.end());
    auto at = [&](double q) {
      return ms_[std::min(ms_.size() - 1, static_cast<std::size_t>(q * ms_.size()))];
    };
    char line[160];
    std::snprintf(line, sizeof line, "p50 %.3f p90 %.3f p99 %.3f p99.9 %.3f max %.3f", at(0.5),
                  at(0.9), at(0.99), at(0.999), ms_.back());
    return line;
  }

 private:
  std::mutex mutex_;
  std::vector<double> ms_;
};

double ms_between(steady::time_point a, steady::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

/// Sorted unique ids and, for any id, its row in a lookup of them.
struct id_set {
  std::vector<std::uint64_t> ids;
  void finish() {
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  }
  std::size_t row(std::uint64_t id) const {
    return static_cast<std::size_t>(std::lower_bound(ids.begin(), ids.end(), id) - ids.begin());
  }
};

/// One skip-gram pair of a step: centre word, context word, 1 or 0 (negative).
struct sgns_pair {
  std::uint32_t word, context;
  float label;
};

/// A trainer: takes the next sentences of the stream, looks up the rows
/// they touch, computes the SGNS gradient and pushes it. Its next lookup
/// waits for its previous pushes, so a trainer is at most one step behind.
class trainer {
 public:
  trainer(troupe::client& c, const troupe::brown_corpus& corpus,
          const troupe::negative_sampler& negatives, const std::vector<float>& keep,
          const service_options& opt, std::uint32_t index, failure_log& failures)
      : c_(c),
        corpus_(corpus),
        negs_(negatives),
        keep_(keep),
        opt_(opt),
        rng_(opt.seed + index),
        failures_(failures) {}

  /// Trains until `stop`; returns the pairs trained.
  std::uint64_t run(std::atomic<std::uint64_t>& next_sentence, const std::atomic<bool>& stop) {
    std::uint64_t trained = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      collect_pairs(next_sentence);
      if (pairs_.empty()) continue;
      if (!step()) break;
      trained += pairs_.size();
    }
    for (auto& f : pending_) f.wait();
    return trained;
  }

 private:
  void collect_pairs(std::atomic<std::uint64_t>& next_sentence) {
    pairs_.clear();
    in_.ids.clear();
    out_.ids.clear();
    std::size_t centres = 0;
    const auto& train = corpus_.train;
    while (centres < opt_.batch) {
      const auto& s = train[next_sentence.fetch_add(1) % train.size()];
      troupe::subsample(s, keep_, rng_, kept_);
      for (std::size_t pos = 0; pos < kept_.size(); ++pos, ++centres) {
        const std::uint32_t w = kept_[pos];
        troupe::for_each_context(kept_, pos, opt_.window, rng_, [&](std::uint32_t ctx) {
          pairs_.push_back({w, ctx, 1.0f});
          for (std::uint32_t k = 0; k < opt_.negatives; ++k) {
            pairs_.push_back({w, negs_.draw(rng_), 0.0f});
          }
        });
      }
    }
    for (const auto& p : pairs_) {
      in_.ids.push_back(p.word);
      out_.ids.push_back(p.context);
    }
    in_.finish();
    out_.finish();
  }

  bool step() {
    for (auto& f : pending_) {
      if (auto r = f.get(); !r) return failed(r.error());
    }
    pending_.clear();
    auto in_f = c_.lookup("word_in", in_.ids);
    auto out_f = c_.lookup("word_out", out_.ids);
    auto in_rows = in_f.get();
    auto out_rows = out_f.get();
    if (!in_rows) return failed(in_rows.error());
    if (!out_rows) return failed(out_rows.error());
    const std::size_t d = opt_.dim;
    std::vector<float> g_in(in_.ids.size() * d, 0.0f), g_out(out_.ids.size() * d, 0.0f);
    for (const auto& p : pairs_) {
      const std::size_t i = in_.row(p.word), o = out_.row(p.context);
      troupe::sgns_pair_grad(in_rows->row(i), out_rows->row(o), p.label, d, &g_in[i * d],
                             &g_out[o * d]);
    }
    pending_.push_back(c_.push("word_in", in_.ids, std::move(g_in)));
    pending_.push_back(c_.push("word_out", out_.ids, std::move(g_out)));
    return true;
  }

  bool failed(const troupe::api_error& e) {
    failures_.add(e);
    return false;
  }

  troupe::client& c_;
  const troupe::brown_corpus& corpus_;
  const troupe::negative_sampler& negs_;
  const std::vector<float>& keep_;
  const service_options& opt_;
  troupe::sgns_rng rng_;
  failure_log& failures_;
  std::vector<std::uint32_t> kept_;
  std::vector<sgns_pair> pairs_;
  id_set in_, out_;
  std::vector<std::future<troupe::result<void>>> pending_;
};

/// One query thread of the load generator: `qps` lookups of `lookup_rows`
/// words drawn by frequency (popular words are asked for more, as in a real
/// service), each timed from its scheduled send time.
void query_load(troupe::client& c, const troupe::negative_sampler& popular,
                const service_options& opt, std::uint32_t index, steady::time_point until,
                latency_log& log) {
  troupe::sgns_rng rng(opt.seed * 7919 + index);
  const auto interval =
      std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(1.0 / opt.qps));
  std::vector<double> ms;
  for (auto t = steady::now(); t < until; t += interval) {
    std::this_thread::sleep_until(t);
    std::vector<std::uint64_t> ids(opt.lookup_rows);
    for (auto& id : ids) id = popular.draw(rng);
    auto r = c.lookup("word_in", std::move(ids)).get();
    if (!r) {
      log.failures.add(r.error());
      continue;
    }
    ms.push_back(ms_between(t, steady::now()));
  }
  log.add(ms);
}

/// Every vocabulary row of word_in, looked up live.
troupe::result<troupe::rows> all_word_vectors(troupe::client& c, std::size_t vocab) {
  std::vector<std::uint64_t> ids(vocab);
  for (std::size_t i = 0; i < vocab; ++i) ids[i] = i;
  return c.lookup("word_in", std::move(ids)).get();
}

/// Nearest-neighbour queries, one every `neighbour_every_s`, each over the
/// live vectors of the whole vocabulary.
void neighbour_queries(troupe::client& c, const troupe::brown_corpus& corpus,
                       const service_options& opt, steady::time_point until, latency_log& log) {
  const auto every = std::chrono::duration_cast<steady::duration>(
      std::chrono::duration<double>(opt.neighbour_every_s));
  std::vector<double> ms;
  std::size_t turn = 0;
  for (auto t = steady::now(); t < until; t += every) {
    std::this_thread::sleep_until(t);
    const auto word = corpus.vocab.find(opt.words[turn++ % opt.words.size()]);
    auto rows = all_word_vectors(c, corpus.vocab.size());
    if (!rows) {
      log.failures.add(rows.error());
      continue;
    }
    if (word < 0) continue;  // not in this corpus's vocabulary
    const auto w = static_cast<std::size_t>(word);
    auto top = troupe::nearest_rows(rows->values.data(), rows->size(), opt.dim, rows->row(w), 5, w);
    if (!top.empty()) ms.push_back(ms_between(t, steady::now()));
  }
  log.add(ms);
}

struct phase_result {
  latency_log lookups, neighbours;
  failure_log training_failures;
  std::uint64_t pairs = 0;
  double seconds = 0;
};

/// Runs the load generator (and, with trainers > 0, the trainers) for `seconds`.
void run_phase(troupe::client& c, const troupe::brown_corpus& corpus,
               const troupe::negative_sampler& negatives, const std::vector<float>& keep,
               const service_options& opt, std::uint32_t trainers, double seconds,
               std::atomic<std::uint64_t>& stream, phase_result& out) {
  const auto start = steady::now();
  const auto until =
      start + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(seconds));
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> pairs{0};
  std::vector<std::thread> threads;
  for (std::uint32_t t = 0; t < trainers; ++t) {
    threads.emplace_back([&, t] {
      trainer tr(c, corpus, negatives, keep, opt, t, out.training_failures);
      pairs += tr.run(stream, stop);
    });
  }
  std::vector<std::thread> queries;
  for (std::uint32_t q = 0; q < opt.query_threads; ++q) {
    queries.emplace_back([&, q] { query_load(c, negatives, opt, q, until, out.lookups); });
  }
  queries.emplace_back([&] { neighbour_queries(c, corpus, opt, until, out.neighbours); });
  for (auto& q : queries) q.join();
  stop = true;
  for (auto& t : threads) t.join();
  out.seconds = ms_between(start, steady::now()) / 1000;
  out.pairs = pairs;
}

void print_phase(const char* name, phase_result& p, const service_options& opt) {
  std::printf("phase %s (%.1f s):\n", name, p.seconds);
  if (p.pairs > 0) {
    std::printf("  training: %llu pairs, %.0f pairs/s\n", static_cast<unsigned long long>(p.pairs),
                p.pairs / p.seconds);
  }
  std::printf("  lookups of %u rows: %zu (%.0f/s), %llu failed; latency ms %s\n", opt.lookup_rows,
              p.lookups.count(), p.lookups.count() / p.seconds,
              static_cast<unsigned long long>(p.lookups.failures.count()),
              p.lookups.percentiles().c_str());
  std::printf("  neighbour queries: %zu, %llu failed; latency ms %s\n", p.neighbours.count(),
              static_cast<unsigned long long>(p.neighbours.failures.count()),
              p.neighbours.percentiles().c_str());
}

/// Starts an engine in this process holding the two tables.
troupe::result<troupe::client> start_engine(const service_options& opt, std::size_t vocab,
                                            std::optional<troupe::engine>& eng) {
  troupe::engine_options eo;
  eo.shards = opt.shards;
  eo.tables = {
      troupe::table::sparse("word_in", opt.dim)
          .init(0.5f / opt.dim)
          .with_seed(opt.seed)
          .max_row_id(vocab)
          .adagrad(opt.learning_rate),
      troupe::table::sparse("word_out", opt.dim).max_row_id(vocab).adagrad(opt.learning_rate)};
  auto started = troupe::engine::start(eo);
  if (!started) return started.error();
  eng.emplace(std::move(started).value());
  std::printf(
      "engine: in this process, %u shards, tables word_in and word_out of width %u "
      "(adagrad %g)\n",
      opt.shards, opt.dim, opt.learning_rate);
  return eng->client();
}

/// Connects to a running engine (`troupe serve examples/embedding_tables.toml`)
/// and checks that it serves both tables with this service's width.
troupe::result<troupe::client> connect_engine(const service_options& opt) {
  auto c = troupe::client::connect(opt.connect, troupe::load_secret(opt.secret_file));
  if (!c) return c.error();
  for (const char* name : {"word_in", "word_out"}) {
    auto t = c->table(name);
    if (!t) return t.error();
    if (!t->is_sparse || t->width != opt.dim) {
      return troupe::api_error{troupe::api_errc::wrong_width,
                               std::string("table '") + name + "' of " + opt.connect +
                                   " is not sparse of width " + std::to_string(opt.dim)};
    }
  }
  std::printf("engine: %s (remote), tables word_in and word_out of width %u\n", opt.connect.c_str(),
              opt.dim);
  return c;
}

int run(const service_options& opt) {
  auto corpus = [&] {
    try {
      return troupe::load_brown(opt.corpus, opt.min_count, opt.seed, 0.0);
    } catch (const troupe::troupe_error& e) {
      throw troupe::troupe_error(e.code(),
                                 std::string(e.what()) + "; in this example: --corpus DIR");
    }
  }();
  std::printf("corpus: %zu words, %zu sentences, %llu tokens (%s)\n", corpus.vocab.size(),
              corpus.train.size(), static_cast<unsigned long long>(corpus.tokens),
              opt.corpus.c_str());
  if (corpus.vocab.size() < 2 || corpus.train.empty()) {
    std::cerr << "the corpus has too few words for skip-gram\n";
    return 1;
  }
  // In this process (the default), or against a `troupe serve` elsewhere.
  std::optional<troupe::engine> eng;
  auto c = opt.connect.empty() ? start_engine(opt, corpus.vocab.size(), eng) : connect_engine(opt);
  if (!c) {
    std::cerr << "no engine: " << c.error().to_string() << "\n";
    return 1;
  }

  const troupe::negative_sampler negatives(corpus.vocab.counts);
  const auto keep = troupe::subsample_keep_probabilities(corpus.vocab.counts, 1e-3);
  std::atomic<std::uint64_t> stream{0};
  phase_result idle, training;
  run_phase(*c, corpus, negatives, keep, opt, 0, opt.idle_seconds, stream, idle);
  print_phase("idle", idle, opt);
  run_phase(*c, corpus, negatives, keep, opt, opt.trainers, opt.seconds, stream, training);
  print_phase("training", training, opt);

  auto rows = all_word_vectors(*c, corpus.vocab.size());
  if (!rows) {
    std::cerr << "final lookup failed: " << rows.error().to_string() << "\n";
    return 1;
  }
  std::printf(
      "live neighbours after %llu sentences:\n%s", static_cast<unsigned long long>(stream.load()),
      troupe::neighbour_lines(rows->values.data(), corpus.vocab, opt.dim, opt.words, 5).c_str());
  auto check = troupe::check_related_pairs(rows->values.data(), corpus.vocab, opt.dim,
                                           troupe::related_word_pairs(), 10, opt.seed);
  if (check.pairs_used > 0) {
    std::printf("related pairs: %zu used, win rate %.3f (cos %.3f related vs %.3f random)\n",
                check.pairs_used, check.win_rate(), check.mean_related_cos, check.mean_random_cos);
  }
  bool clean = true;
  for (const failure_log* f :
       {&idle.lookups.failures, &idle.neighbours.failures, &training.lookups.failures,
        &training.neighbours.failures, &training.training_failures}) {
    if (f->count() > 0) {
      std::cerr << f->count() << " calls failed, the first with " << f->first() << "\n";
      clean = false;
    }
  }
  return clean && training.pairs > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  service_options opt;
  CLI::App app{"Troupe example: a live word-embedding service with a lookup load generator"};
  app.add_option("--corpus", opt.corpus, "Brown corpus directory (scripts/fetch-data.sh brown)")
      ->check(CLI::ExistingDirectory);
  app.add_option("--min-count", opt.min_count, "vocabulary cut")->check(CLI::Range(1, 1000000));
  app.add_option("--dim", opt.dim, "embedding width")->check(CLI::Range(1, 4096));
  app.add_option("--shards", opt.shards, "parameter shards")->check(CLI::Range(1, 256));
  app.add_option("--trainers", opt.trainers, "training threads")->check(CLI::Range(1, 64));
  app.add_option("--batch", opt.batch, "centre words per step")->check(CLI::Range(1, 100000));
  app.add_option("--lr", opt.learning_rate, "Adagrad learning rate")->check(CLI::PositiveNumber);
  app.add_option("--idle-seconds", opt.idle_seconds, "queries without training first")
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--seconds", opt.seconds, "queries while training")
      ->check(CLI::Range(0.1, 86400.0));
  app.add_option("--query-threads", opt.query_threads, "load generator threads")
      ->check(CLI::Range(1, 256));
  app.add_option("--qps", opt.qps, "lookups per second per query thread")
      ->check(CLI::Range(1.0, 1e6));
  app.add_option("--lookup-rows", opt.lookup_rows, "ids per lookup")->check(CLI::Range(1, 100000));
  app.add_option("--neighbour-every", opt.neighbour_every_s, "seconds between neighbour queries")
      ->check(CLI::Range(0.01, 3600.0));
  app.add_option("--words", opt.words, "words whose neighbours are queried and shown");
  app.add_option("--seed", opt.seed, "seed of the initialiser and the samplers");
  auto* connect = app.add_option("--connect", opt.connect,
                                 "HOST:PORT of a running `troupe serve` (default: an engine in "
                                 "this process)");
  app.add_option("--secret-file", opt.secret_file, "the cluster secret, with --connect")
      ->check(CLI::ExistingFile)
      ->needs(connect);
  connect->needs("--secret-file");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(opt);
  } catch (const troupe::troupe_error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
