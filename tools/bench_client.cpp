// Clients of the benchmark's remote shards: the worker process (rounds of
// push + pull, timed) and the parent's final check of every value.
#include <spdlog/spdlog.h>
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <numeric>

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

// One worker's rounds against its shards. Each round keeps at most one push
// and then one pull in flight per server (BASP has no flow control).
//
// Key caching (hash store, unless --no-key-cache): a server that was sent a
// worker's row ids once with their name (a SHA-256) is sent only the name
// after that, and its pull replies leave the ids out. A server that does not
// hold them (unknown_key_list: it restarted, or its cache let them go)
// refuses the request unapplied, and the worker sends it again in full.
class pushpull_client {
 public:
  pushpull_client(caf::scoped_actor& self, const run_shape& shape, std::uint32_t worker,
                  std::vector<shard_link> links)
      : self_(self), shape_(shape), worker_(worker), links_(std::move(links)) {
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

  /// Pushes to every owning server and waits for all acks, then pulls from
  /// every one and waits for all replies. Adds the two halves to the totals.
  caf::error round(double& push_ms, double& pull_ms) {
    auto t0 = clock_type::now();
    if (auto err = push_all()) return err;
    push_ms += ms_since(t0);
    t0 = clock_type::now();
    if (auto err = pull_all()) return err;
    pull_ms += ms_since(t0);
    return caf::error{};
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

  // Sends `make(k)` to every owning server and hands each reply to
  // `check(k, reply)` (an error, or none). A server that refuses a request
  // for want of the ids it named gets it again in full (a refusal of one
  // sent in full is an error).
  template <class Atom, class Make, class Check>
  caf::error to_all(Atom atom, Make make, Check check) {
    std::vector<std::size_t> todo(links_.size());
    std::iota(todo.begin(), todo.end(), std::size_t{0});
    caf::error failure;
    while (!todo.empty() && !failure) {
      using handle = decltype(self_->request(links_[0].shard, caf::infinite, atom, bytes{}));
      std::vector<handle> pending;
      pending.reserve(todo.size());
      // Build the next server's message while the previous one is on its way.
      for (auto k : todo)
        pending.push_back(self_->request(links_[k].shard, caf::infinite, atom, make(k)));
      std::vector<std::size_t> again;
      for (std::size_t i = 0; i < pending.size(); ++i) {
        const auto k = todo[i];
        pending[i].receive(
            [&](bytes& reply) {
              if (auto err = check(k, reply)) return first_error(failure, std::move(err));
              fresh_[k] = named(k) && !held_[k];
              held_[k] = named(k);
            },
            [&](caf::error& err) {
              if (named(k) && held_[k] && is_troupe_error(err, errc::unknown_key_list)) {
                // Refused by name right after it was sent in full: this
                // server does not keep it.
                if (fresh_[k]) stop_naming(k);
                held_[k] = false;
                again.push_back(k);
              } else {
                first_error(failure, std::move(err));
              }
            });
      }
      todo = std::move(again);
    }
    return failure;
  }

  // Pushes and pulls carry no timeout: a timer per request woke CAF's clock
  // thread twice per round, a context switch each on two cores. A server
  // that dies or hangs is caught by the parent's deadline for the result
  // (bench_pushpull.cpp), which then kills every child.
  caf::error push_all() {
    ++seq_;  // increasing per worker: the shards apply it (not a duplicate)
    return to_all(
        push_atom::value, [&](std::size_t k) { return make_push(k); },
        [&](std::size_t, const bytes& reply) -> caf::error {
          push_ack ack;
          if (auto st = decode_push_ack(reply, ack); !st) return to_caf_error(st);
          if (ack.duplicate || ack.seq != seq_) {
            return make_troupe_error(errc::malformed_message,
                                     "push " + std::to_string(seq_) + " acknowledged as seq " +
                                         std::to_string(ack.seq) +
                                         (ack.duplicate ? " (duplicate)" : ""));
          }
          return {};
        });
  }

  caf::error pull_all() {
    return to_all(
        pull_atom::value, [&](std::size_t k) { return make_pull(k); },
        [&](std::size_t k, const bytes& reply) -> caf::error {
          // Decoded as a real worker would before using the values.
          pull_reply_view view;
          if (auto st = decode_pull_reply(reply, view); !st) return to_caf_error(st);
          if (view.count != links_[k].count) {
            return make_troupe_error(errc::wrong_size, "pulled " + std::to_string(view.count) +
                                                           " values, expected " +
                                                           std::to_string(links_[k].count));
          }
          return {};
        });
  }

  caf::scoped_actor& self_;
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
  pushpull_client client(self, o.shape, o.index, std::move(*links));
  double push_ms = 0, pull_ms = 0;
  for (std::uint64_t i = 0; i < warmup_rounds; ++i) {
    if (auto err = client.round(push_ms, pull_ms)) {
      spdlog::error("bench-worker {}: warm-up round failed: {}", o.index, describe(err));
      return 4;
    }
  }
  std::cout << "ready" << std::endl;
  std::string line;
  if (!std::getline(std::cin, line) || line != "go") return 5;  // the parent gave up
  std::vector<double> latencies;
  latencies.reserve(1 << 16);
  push_ms = pull_ms = 0;
  const auto start = clock_type::now();
  const auto deadline = start + std::chrono::duration<double>(o.seconds);
  while (clock_type::now() < deadline) {
    const auto t0 = clock_type::now();
    if (auto err = client.round(push_ms, pull_ms)) {
      spdlog::error("bench-worker {}: round {} failed: {}", o.index, latencies.size(),
                    describe(err));
      return 4;
    }
    latencies.push_back(ms_since(t0));
  }
  const double seconds = ms_since(start) / 1000.0;
  std::cout << format_result_line(summarise(std::move(latencies), seconds, push_ms, pull_ms))
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
