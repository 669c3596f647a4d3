// The worker side of `troupe bench pushpull`: the messages of one worker's
// rounds and the actor that sends them (see bench_round_client.hpp).
#include "tools/bench_round_client.hpp"

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/typed_broker.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <utility>

#include "actors/actor_config.hpp"
#include "engine/store/key_list_cache.hpp"

namespace troupe::bench {

namespace {

using clock_type = std::chrono::steady_clock;

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

using round_client_broker = caf::io::typed_broker<caf::replies_to<start_atom>::with<bool>,
                                                  caf::replies_to<run_atom, double>::with<bool>>;

struct client_state {
  std::shared_ptr<round_messages> messages;
  std::shared_ptr<round_totals> totals;
  caf::typed_response_promise<bool> promise;  // of the start or run under way
  bool pulling = false;                       // the round's second half
  bool timed = false;
  std::uint64_t rounds_left = 0;  // warm-up
  clock_type::time_point deadline, started, round_began, half_began;
  std::size_t outstanding = 0;     // requests of this half not yet answered
  std::vector<std::size_t> again;  // refused by name: sent again in full
  caf::error failure;              // the first of this half
  static inline const char* name = "troupe.bench-client";
};

using scheduled_client = round_client_actor::stateful_pointer<client_state>;
using io_client = caf::stateful_actor<client_state, round_client_broker>*;

double ms_between(clock_type::time_point from, clock_type::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

template <class Self>
void send_half(Self self, std::vector<std::size_t> to);

template <class Self>
void send_to_all(Self self) {
  std::vector<std::size_t> all(self->state.messages->size());
  std::iota(all.begin(), all.end(), std::size_t{0});
  send_half(self, std::move(all));
}

template <class Self>
void begin_round(Self self) {
  auto& st = self->state;
  st.messages->next_round();
  st.round_began = st.half_began = clock_type::now();
  st.pulling = false;
  send_to_all(self);
}

template <class Self>
void finish(Self self, caf::error err) {
  auto& st = self->state;
  st.totals->seconds = ms_between(st.started, clock_type::now()) / 1000.0;
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
  if (!st.pulling) {
    st.totals->push_ms += ms_between(st.half_began, now);
    st.pulling = true;
    st.half_began = now;
    return send_to_all(self);
  }
  st.totals->pull_ms += ms_between(st.half_began, now);
  if (st.timed) st.totals->latencies.push_back(ms_between(st.round_began, now));
  if (st.timed ? now < st.deadline : --st.rounds_left > 0) return begin_round(self);
  finish(self, caf::error{});
}

// Server `k` answered a request of this half, `err` if it refused it or
// its answer did not check out. The half goes on once all have answered,
// so that no answer of it can arrive during the next.
template <class Self>
void on_answer(Self self, std::size_t k, caf::error err) {
  auto& st = self->state;
  if (!err) {
    st.messages->answered(k);
  } else if (st.messages->send_again_in_full(k, err)) {
    st.again.push_back(k);
  } else if (!st.failure) {
    st.failure = std::move(err);
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
  // On the scheduler each message is built while the previous one is on
  // its way; on the I/O thread they go once this handler returns.
  for (auto k : to) {
    auto& m = *st.messages;
    auto refused = [self, k](caf::error& err) { on_answer(self, k, std::move(err)); };
    if (st.pulling) {
      auto pulled = [self, k](bytes& reply) {
        on_answer(self, k, self->state.messages->check_pull(k, reply));
      };
      self->request(m.shard(k), caf::infinite, pull_atom::value, m.make_pull(k))
          .then(std::move(pulled), std::move(refused));
    } else {
      auto acked = [self, k](bytes& reply) {
        on_answer(self, k, self->state.messages->check_ack(reply));
      };
      self->request(m.shard(k), caf::infinite, push_atom::value, m.make_push(k))
          .then(std::move(acked), std::move(refused));
    }
  }
}

template <class Self>
void start(Self self, bool timed, double seconds) {
  auto& st = self->state;
  st.promise = self->template make_response_promise<bool>();
  st.timed = timed;
  st.rounds_left = warmup_rounds;
  st.started = clock_type::now();
  st.deadline = st.started + std::chrono::duration_cast<clock_type::duration>(
                                 std::chrono::duration<double>(seconds));
  *st.totals = round_totals{};
  if (timed) {
    // Room for a long run up front: no reallocation between two rounds.
    st.totals->latencies.reserve(1 << 16);
    if (st.started >= st.deadline) return finish(self, caf::error{});  // --seconds 0
  }
  begin_round(self);
}

template <class Self>
typename round_client_actor::behavior_type client_behavior(Self self,
                                                           std::shared_ptr<round_messages> messages,
                                                           std::shared_ptr<round_totals> totals) {
  self->state.messages = std::move(messages);
  self->state.totals = std::move(totals);
  // A handler that throws (out of memory building a push, say) would end
  // the client with the caller's request unanswered, and it waits forever.
  self->set_exception_handler([self](std::exception_ptr& eptr) -> caf::error {
    auto err = make_troupe_error(errc::stopped, "bench client: " + describe(eptr));
    if (self->state.promise.pending()) self->state.promise.deliver(err);
    return err;
  });
  return {
      [=](start_atom) -> caf::result<bool> {
        start(self, false, 0);
        return caf::delegated<bool>();
      },
      [=](run_atom, double seconds) -> caf::result<bool> {
        start(self, true, seconds);
        return caf::delegated<bool>();
      },
  };
}

}  // namespace

bytes encode_pull(const run_shape& shape, std::uint32_t worker, const shard_link& l) {
  if (shape.store == store_kind::hash) {
    return encode_sparse_pull(bench_table_id, worker, l.slice.keys.data(), l.slice.keys.size());
  }
  return encode_dense_pull(bench_table_id, worker, l.slice.range.begin, l.slice.range.size());
}

round_client_actor spawn_round_client(caf::actor_system& sys, round_thread thread,
                                      const run_shape& shape, std::uint32_t worker,
                                      std::vector<shard_link> links,
                                      std::shared_ptr<round_totals> totals) {
  if (links.empty()) throw std::invalid_argument("bench client: no server owns a key");
  auto messages = std::make_shared<round_messages>(shape, worker, std::move(links));
  if (thread == round_thread::io) {
    return sys.middleman().spawn_broker(client_behavior<io_client>, std::move(messages),
                                        std::move(totals));
  }
  return sys.spawn(client_behavior<scheduled_client>, std::move(messages), std::move(totals));
}

}  // namespace troupe::bench
