// Clients of the benchmark's remote shards: the worker process (rounds of
// push + pull, timed) and the parent's final check of every value.
#include <spdlog/spdlog.h>
#include <caf/all.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <memory>
#include <numeric>
#include <utility>

#include "actors/actor_config.hpp"
#include "actors/protocol.hpp"
#include "engine/store/key_list_cache.hpp"
#include "tools/bench_nodes.hpp"

namespace troupe::bench {

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

// middleman().remote_actor() waits without a timeout for the handshake; a
// peer that accepts but never answers (stopped, overloaded) would hang us.
caf::expected<shard_actor> connect_shard(caf::actor_system& sys, caf::scoped_actor& self,
                                         std::uint16_t port) {
  caf::expected<shard_actor> out{caf::make_error(caf::sec::request_timeout)};
  self->request(sys.middleman().actor_handle(), request_timeout, caf::connect_atom::value,
                std::string("127.0.0.1"), port)
      .receive(
          [&](caf::node_id&, caf::strong_actor_ptr& ptr, std::set<std::string>& ifs) {
            if (!ptr) {
              out = caf::make_error(caf::sec::no_actor_published_at_port);
            } else if (!sys.assignable<shard_actor>(ifs)) {
              out = caf::make_error(caf::sec::unexpected_actor_messaging_interface);
            } else {
              out = caf::actor_cast<shard_actor>(std::move(ptr));
            }
          },
          [&](caf::error& err) { out = std::move(err); });
  return out;
}

// The slices of the servers that own keys, each with its connected shard.
struct shard_link {
  shard_actor shard;
  server_slice slice;
  std::size_t count = 0;  ///< values this server holds of ours
};

caf::expected<std::vector<shard_link>> connect_all(caf::actor_system& sys, caf::scoped_actor& self,
                                                   const run_shape& shape,
                                                   const std::vector<std::uint16_t>& ports) {
  if (ports.size() != shape.servers) {
    return make_troupe_error(errc::bad_config, std::to_string(ports.size()) + " ports for " +
                                                   std::to_string(shape.servers) + " servers");
  }
  std::vector<shard_link> links;
  auto slices = slice_keys(shape);
  for (std::uint32_t k = 0; k < shape.servers; ++k) {
    const std::size_t count = slices[k].size(shape.store);
    if (count == 0) continue;  // e.g. N = 1: only one server owns a key
    auto shard = connect_shard(sys, self, ports[k]);
    if (!shard) return std::move(shard.error());
    links.push_back({std::move(*shard), std::move(slices[k]), count});
  }
  return links;
}

// A pull of the link's keys in full, whose reply repeats them.
bytes encode_pull(const run_shape& shape, std::uint32_t worker, const shard_link& l) {
  if (shape.store == store_kind::hash) {
    return encode_sparse_pull(bench_table_id, worker, l.slice.keys.data(), l.slice.keys.size());
  }
  return encode_dense_pull(bench_table_id, worker, l.slice.range.begin, l.slice.range.size());
}

// Keeps the first error of a round; later replies are still received so that
// no stale response is left in the mailbox.
void first_error(caf::error& kept, caf::error next) {
  if (!kept && next) kept = std::move(next);
}

// What one worker sends its shards and how it reads their answers. Each
// round pushes to every owning server and waits for all acks, then pulls
// from every one and waits for all replies (BASP has no flow control: at
// most one request per server in flight).
//
// Key caching (hash store, unless --no-key-cache): a server that was sent a
// worker's row ids once with their name (a SHA-256) is sent only the name
// after that, and its pull replies leave the ids out. A server that does not
// hold them (unknown_key_list: it restarted, or its cache let them go)
// refuses the request unapplied, and the worker sends it again in full.
class round_messages {
 public:
  round_messages(const run_shape& shape, std::uint32_t worker, std::vector<shard_link> links)
      : shape_(shape), worker_(worker), links_(std::move(links)) {
    std::size_t most = 0;
    for (auto& l : links_) {
      most = std::max(most, l.count);
      // A name takes about as many bytes as 7 ids: shorter lists go in full,
      // and so do lists a server's cache would not keep.
      const bool named =
          shape_.store == store_kind::hash && shape_.key_cache &&
          l.slice.keys.size() >= min_named_ids &&
          l.slice.keys.size() * sizeof(std::uint64_t) + key_list_cache::entry_overhead_bytes <=
              key_list_cache::default_max_bytes;
      names_.push_back(named ? name_key_list(l.slice.keys.data(), l.slice.keys.size())
                             : key_list_name{});
      // The keys (or the range) never change: each pull request is encoded
      // once (in full, and by name) and each round sends a copy of its bytes.
      pull_full_.push_back(named ? named_pull(l, names_.back(), true)
                                 : encode_pull(shape_, worker_, l));
      pull_by_name_.push_back(named ? named_pull(l, names_.back(), false) : bytes{});
    }
    held_.assign(links_.size(), false);
    fresh_.assign(links_.size(), false);
    gradient_.assign(most, push_gradient);
  }

  std::size_t size() const { return links_.size(); }
  const shard_actor& shard(std::size_t k) const { return links_[k].shard; }

  /// The next round's pushes carry the next seq (increasing per worker: the
  /// shards apply each, none is a duplicate).
  void next_round() { ++seq_; }

  // A real worker copies its gradient into the message: one memcpy of the
  // values, straight into the bytes that travel (plus the keys for hash,
  // until the server holds them).
  bytes make_push(std::size_t k) {
    const auto& l = links_[k];
    push_header header{bench_table_id, worker_, static_cast<std::int64_t>(seq_), seq_, 0};
    header.in_order = named(k);  // seqs per server start at 1 and skip none; by name, required
    const bool by_name = named(k) && held_[k];
    auto w = shape_.store == store_kind::hash
                 ? push_writer::sparse(header, by_name ? nullptr : l.slice.keys.data(),
                                       l.slice.keys.size(), 1, named(k) ? &names_[k] : nullptr)
                 : push_writer::dense(header, l.slice.range.begin, l.slice.range.size());
    std::memcpy(w.values(), gradient_.data(), w.count() * sizeof(float));
    return std::move(w).finish();
  }

  bytes make_pull(std::size_t k) const {
    return named(k) && held_[k] ? pull_by_name_[k] : pull_full_[k];
  }

  caf::error check_ack(const bytes& reply) const {
    push_ack ack;
    if (auto st = decode_push_ack(reply, ack); !st) return to_caf_error(st);
    if (ack.duplicate || ack.seq != seq_) {
      return make_troupe_error(errc::malformed_message,
                               "push " + std::to_string(seq_) + " acknowledged as seq " +
                                   std::to_string(ack.seq) + (ack.duplicate ? " (duplicate)" : ""));
    }
    return {};
  }

  caf::error check_pull(std::size_t k, const bytes& reply) const {
    // Decoded as a real worker would before using the values.
    pull_reply_view view;
    if (auto st = decode_pull_reply(reply, view); !st) return to_caf_error(st);
    if (view.count != links_[k].count) {
      return make_troupe_error(errc::wrong_size, "pulled " + std::to_string(view.count) +
                                                     " values, expected " +
                                                     std::to_string(links_[k].count));
    }
    return {};
  }

  /// Server `k` took a request: from now on it holds the ids by name.
  void answered(std::size_t k) {
    fresh_[k] = named(k) && !held_[k];
    held_[k] = named(k);
  }

  /// Server `k` refused a request with `err`. True when it only lacked the
  /// ids it was sent by name: the request goes again, in full.
  bool send_again_in_full(std::size_t k, const caf::error& err) {
    if (!named(k) || !held_[k] || !is_troupe_error(err, errc::unknown_key_list)) return false;
    // Refused by name right after it was sent in full: this server does not keep it.
    if (fresh_[k]) stop_naming(k);
    held_[k] = false;
    return true;
  }

 private:
  static constexpr std::size_t min_named_ids = 8;

  bool named(std::size_t k) const { return names_[k].named; }

  // This server does not keep link `k`'s list: its ids go in full from now on.
  void stop_naming(std::size_t k) {
    names_[k] = key_list_name{};
    pull_full_[k] = encode_pull(shape_, worker_, links_[k]);
    pull_by_name_[k] = bytes{};
  }

  bytes named_pull(const shard_link& l, const key_list_name& name, bool full) const {
    return encode_sparse_pull(bench_table_id, worker_, full ? l.slice.keys.data() : nullptr,
                              l.slice.keys.size(), false, &name, true);
  }

  run_shape shape_;
  std::uint32_t worker_;
  std::vector<shard_link> links_;
  std::vector<key_list_name> names_;  // per link: the name of its row ids (unnamed: in full)
  std::vector<bool> held_;            // per link: the server holds them by name
  std::vector<bool> fresh_;           // per link: the last success sent them in full
  std::vector<bytes> pull_full_, pull_by_name_;
  std::vector<float> gradient_;
  std::uint64_t seq_ = 0;
};

// What the rounds measured; the main thread reads it once the client
// answered (the answer orders the writes before the reads).
struct round_totals {
  std::vector<double> latencies;  // timed rounds only
  double seconds = 0;
  double push_ms = 0, pull_ms = 0;
};

// One worker's rounds, driven by the answers themselves: an answer's
// handler sends the next request. The client runs as a broker on the
// middleman's I/O thread (--worker-thread io), where BASP hands it each
// answer and takes its next request on the thread that read the answer,
// or as an ordinary actor on the scheduler, one hand-off each way.
//
//   main --(start_atom)-------> client   warm-up rounds; answers true
//   main --(run_atom, seconds)--> client   rounds until the deadline; answers true
//   either answers the first error of a round instead, and stops there
struct client_state {
  std::shared_ptr<round_messages> messages;
  std::shared_ptr<round_totals> totals;
  caf::response_promise promise;  // of the start or run under way
  bool pulling = false;           // the round's second half
  bool timed = false;
  std::uint64_t rounds_left = 0;  // warm-up
  clock_type::time_point deadline, started, round_began, half_began;
  std::size_t outstanding = 0;     // requests of this half not yet answered
  std::vector<std::size_t> again;  // refused by name: sent again in full
  caf::error failure;              // the first of this half
  static inline const char* name = "troupe.bench-client";
};

using scheduled_client = caf::stateful_actor<client_state>*;
using io_client = caf::stateful_actor<client_state, caf::io::broker>*;

template <class Self>
void send_half(Self self, std::vector<std::size_t> to);

template <class Self>
void begin_round(Self self) {
  auto& st = self->state;
  st.messages->next_round();
  st.round_began = st.half_began = clock_type::now();
  st.pulling = false;
  std::vector<std::size_t> all(st.messages->size());
  std::iota(all.begin(), all.end(), std::size_t{0});
  send_half(self, std::move(all));
}

template <class Self>
void finish(Self self, caf::error err) {
  auto& st = self->state;
  st.totals->seconds = ms_since(st.started) / 1000.0;
  if (err) {
    st.promise.deliver(std::move(err));
  } else {
    st.promise.deliver(true);
  }
}

// Every request of the half was answered: the refused ones go again, or
// the pulls follow the pushes, or the next round follows.
template <class Self>
void half_done(Self self) {
  auto& st = self->state;
  if (st.failure) return finish(self, std::exchange(st.failure, caf::error{}));
  if (!st.again.empty()) return send_half(self, std::exchange(st.again, {}));
  const auto now = clock_type::now();
  const double half_ms = std::chrono::duration<double, std::milli>(now - st.half_began).count();
  if (!st.pulling) {
    st.totals->push_ms += half_ms;
    st.pulling = true;
    st.half_began = now;
    std::vector<std::size_t> all(st.messages->size());
    std::iota(all.begin(), all.end(), std::size_t{0});
    return send_half(self, std::move(all));
  }
  st.totals->pull_ms += half_ms;
  if (st.timed) {
    st.totals->latencies.push_back(
        std::chrono::duration<double, std::milli>(now - st.round_began).count());
  }
  if (st.timed ? now < st.deadline : --st.rounds_left > 0) return begin_round(self);
  finish(self, caf::error{});
}

template <class Self>
void answered(Self self, std::size_t k, caf::error err) {
  auto& st = self->state;
  if (!err) {
    st.messages->answered(k);
  } else if (st.messages->send_again_in_full(k, err)) {
    st.again.push_back(k);
  } else {
    first_error(st.failure, std::move(err));
  }
  if (--st.outstanding == 0) half_done(self);
}

// Pushes and pulls carry no timeout: a timer per request woke CAF's clock
// thread twice per round, a context switch each on two cores. A server
// that dies or hangs is caught by the parent's deadline for the result
// (bench_pushpull.cpp), which then kills every child.
template <class Self>
void send_half(Self self, std::vector<std::size_t> to) {
  auto& st = self->state;
  st.outstanding = to.size();
  // Each message is built while the previous one is on its way.
  for (auto k : to) {
    auto& m = *st.messages;
    auto refused = [self, k](caf::error& err) { answered(self, k, std::move(err)); };
    if (st.pulling) {
      auto pulled = [self, k](bytes& reply) {
        answered(self, k, self->state.messages->check_pull(k, reply));
      };
      self->request(m.shard(k), caf::infinite, pull_atom::value, m.make_pull(k))
          .then(std::move(pulled), std::move(refused));
    } else {
      auto acked = [self, k](bytes& reply) {
        answered(self, k, self->state.messages->check_ack(reply));
      };
      self->request(m.shard(k), caf::infinite, push_atom::value, m.make_push(k))
          .then(std::move(acked), std::move(refused));
    }
  }
}

template <class Self>
caf::behavior client_behavior(Self self, std::shared_ptr<round_messages> messages,
                              std::shared_ptr<round_totals> totals) {
  self->state.messages = std::move(messages);
  self->state.totals = std::move(totals);
  auto start = [self](bool timed, double seconds) {
    auto& st = self->state;
    st.promise = self->make_response_promise();
    st.timed = timed;
    st.rounds_left = warmup_rounds;
    st.started = clock_type::now();
    st.deadline = st.started + std::chrono::duration_cast<clock_type::duration>(
                                   std::chrono::duration<double>(seconds));
    *st.totals = round_totals{};
    begin_round(self);
  };
  return {
      [=](start_atom) -> caf::result<bool> {
        start(false, 0);
        return caf::delegated<bool>();
      },
      [=](run_atom, double seconds) -> caf::result<bool> {
        start(true, seconds);
        return caf::delegated<bool>();
      },
  };
}

caf::actor spawn_client(caf::actor_system& sys, const std::string& thread,
                        std::shared_ptr<round_messages> messages,
                        std::shared_ptr<round_totals> totals) {
  if (thread == "io") {
    return sys.middleman().spawn_broker(client_behavior<io_client>, std::move(messages),
                                        std::move(totals));
  }
  return sys.spawn(client_behavior<scheduled_client>, std::move(messages), std::move(totals));
}

// Asks the client for `start` or `run`; returns its error, or none.
template <class... Ts>
caf::error ask(caf::scoped_actor& self, const caf::actor& client, Ts... xs) {
  caf::error out;
  self->request(client, caf::infinite, xs...)
      .receive([](bool) {}, [&](caf::error& err) { out = std::move(err); });
  return out;
}

// Nearest-rank percentile of sorted samples.
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * sorted.size()));
  return sorted[std::min(sorted.size(), std::max<std::size_t>(rank, 1)) - 1];
}

worker_result summarise(std::vector<double> latencies, double seconds, double push_ms,
                        double pull_ms) {
  worker_result r;
  r.rounds = latencies.size();
  r.seconds = seconds;
  if (latencies.empty()) return r;
  std::sort(latencies.begin(), latencies.end());
  r.median_ms = percentile(latencies, 50);
  r.p99_ms = percentile(latencies, 99);
  r.mean_ms = std::accumulate(latencies.begin(), latencies.end(), 0.0) / r.rounds;
  r.push_ms = push_ms / r.rounds;
  r.pull_ms = pull_ms / r.rounds;
  return r;
}

}  // namespace

int run_worker(const worker_options& o) {
  actor_config cfg;
  apply_tuning(cfg, o.tuning);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto links = connect_all(sys, self, o.shape, o.ports);
  if (!links) {
    spdlog::error("bench-worker {}: cannot reach the servers: {}", o.index,
                  describe(links.error()));
    return 3;
  }
  auto totals = std::make_shared<round_totals>();
  auto client =
      spawn_client(sys, o.tuning.worker_thread,
                   std::make_shared<round_messages>(o.shape, o.index, std::move(*links)), totals);
  // Whichever way this ends, the client goes too (the system waits for it).
  auto stop_client = [&] { caf::anon_send_exit(client, caf::exit_reason::user_shutdown); };
  if (auto err = ask(self, client, start_atom::value)) {
    spdlog::error("bench-worker {}: warm-up round failed: {}", o.index, describe(err));
    stop_client();
    return 4;
  }
  std::cout << "ready" << std::endl;
  std::string line;
  if (!std::getline(std::cin, line) || line != "go") {  // the parent gave up
    stop_client();
    return 5;
  }
  if (auto err = ask(self, client, run_atom::value, o.seconds)) {
    spdlog::error("bench-worker {}: round {} failed: {}", o.index, totals->latencies.size(),
                  describe(err));
    stop_client();
    return 4;
  }
  stop_client();
  std::cout << format_result_line(summarise(std::move(totals->latencies), totals->seconds,
                                            totals->push_ms, totals->pull_ms))
            << std::endl;
  return 0;
}

namespace {

// Reads back one server's values and compares them with `expected`.
void check_link(caf::scoped_actor& self, const run_shape& shape, const shard_link& l,
                float expected, check_result& out, caf::error& failure) {
  constexpr std::uint32_t checker_id = 0xffffffffu;  // no worker has this id
  self->request(l.shard, request_timeout, pull_atom::value, encode_pull(shape, checker_id, l))
      .receive(
          [&](bytes& reply) {
            pull_reply_view view;
            if (auto st = decode_pull_reply(reply, view); !st) {
              return first_error(failure, to_caf_error(st));
            }
            if (view.count != l.count ||
                (shape.store == store_kind::hash && view.keys != l.slice.keys)) {
              return first_error(
                  failure, make_troupe_error(errc::wrong_size, "reply does not match the keys"));
            }
            for (std::size_t i = 0; i < view.count; ++i) {
              if (view.values[i] == expected) continue;
              if (out.wrong++ > 0) continue;
              const auto key =
                  shape.store == store_kind::hash ? l.slice.keys[i] : l.slice.range.begin + i;
              out.detail = "key " + std::to_string(key) + " holds " +
                           std::to_string(view.values[i]) + ", expected " +
                           std::to_string(expected);
            }
            out.checked += view.count;
          },
          [&](caf::error& err) { first_error(failure, std::move(err)); });
}

// The exact integer side of the check: each server that owns keys applied
// one push per round of every worker, none rejected, none taken as duplicate.
void check_counters(caf::scoped_actor& self, const shard_link& l, std::uint64_t pushes,
                    check_result& out, caf::error& failure) {
  self->request(l.shard, request_timeout, stats_atom::value)
      .receive(
          [&](shard_stats& st) {
            if (st.pushes_applied == pushes && st.pushes_rejected == 0 &&
                st.pushes_duplicate == 0) {
              return;
            }
            ++out.wrong;
            out.detail = "shard " + std::to_string(st.shard) + " applied " +
                         std::to_string(st.pushes_applied) + " pushes (" +
                         std::to_string(st.pushes_rejected) + " rejected, " +
                         std::to_string(st.pushes_duplicate) + " duplicates), expected " +
                         std::to_string(pushes);
          },
          [&](caf::error& err) { first_error(failure, std::move(err)); });
}

}  // namespace

float expected_value(std::uint64_t pushes) {
  // Each push subtracts exactly 1.0f from 0 (see bench_table); float32 counts
  // exactly up to 2^24, past which w - 1 rounds back to w (ties to even).
  constexpr std::uint64_t exact = 1u << 24;
  return -static_cast<float>(std::min(pushes, exact));
}

float expected_value(const run_shape& shape, std::uint64_t pushes) {
  if (shape.optimizer == optimizer_kind::sgd) return expected_value(pushes);
  const auto opt = make_optimizer(bench_table(shape).optimizer);
  std::vector<float> state(opt->state_slots(), 0.0f);
  float w = 0.0f;
  for (std::uint64_t t = 1; t <= pushes; ++t) {
    opt->apply(&w, &push_gradient, 1, state.empty() ? nullptr : state.data(), 1, t, 1.0f);
  }
  return w;
}

check_result check_values(const run_shape& shape, const std::vector<std::uint16_t>& ports,
                          std::uint64_t pushes) {
  check_result out;
  actor_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto links = connect_all(sys, self, shape, ports);
  if (!links) {
    out.detail = "cannot reach the servers: " + describe(links.error());
    return out;
  }
  caf::error failure;
  const float expected = expected_value(shape, pushes);
  for (auto& l : *links) check_link(self, shape, l, expected, out, failure);
  if (out.wrong > 0) {
    out.detail +=
        " (" + std::to_string(out.wrong) + " of " + std::to_string(out.checked) + " keys differ)";
  }
  for (auto& l : *links) check_counters(self, l, pushes, out, failure);
  if (failure) out.detail = "final pull failed: " + describe(failure);
  out.pass = !failure && out.wrong == 0 && out.checked == shape.keys;
  if (out.pass) out.detail.clear();
  return out;
}

}  // namespace troupe::bench
