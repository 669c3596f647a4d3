#pragma once
// A client of a Troupe engine: looks up and pushes sparse rows, pulls and
// pushes dense ranges, on named tables. Every call is asynchronous and
// returns a std::future (or takes a callback); one client is safe to share
// between any number of threads. Requests are split by shard, sent in
// parallel and merged back in the caller's order.
//
//   auto c = troupe::client::connect("10.0.0.5:7100", secret).value();  // another process
//   auto c = engine.client().value();                                    // or in-process
//   auto rows = c.lookup("emb", {42, 7, 42}).get().value();   // 3 rows, duplicates allowed
//   c.push("emb", {42}, grad);                                 // fire and forget...
//   if (auto r = c.wait(); !r) log(r.error().to_string());     // ...until all have landed
//
// Errors are values (result.hpp): unknown_table, wrong_width, out_of_range,
// non_finite and bad_argument are found before anything is sent (the shards
// check again); a refused push changes nothing. A shard that goes away turns
// pending and later calls touching it into peer_lost at once (stopped when
// its engine was stopped on purpose); a slow one
// into timeout (every call's deadline counts from the call, and is kept by a
// thread of the client's own, not by the engine's busy threads). More calls
// waiting in the client than client_options::max_queued: overloaded, at once.
//
// A push is applied at most once per call. After timeout or peer_lost its
// outcome is unknown: a timed-out push may still be applied later, and one
// that ended in peer_lost may have been applied on some shards and not on
// others. Retrying is a new push (applied again if the first one landed).
//
// One call sends each shard at most one message, and a message carries at
// most 2^28 bytes of values or row ids (the wire format's limit): a call whose
// part for one shard is larger (over 2^26 floats, e.g. 2^26 / width rows)
// is refused with bad_argument; split it into smaller calls.

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "troupe/result.hpp"
#include "troupe/tls.hpp"

namespace troupe {

struct client_options {
  /// Every call's deadline, counted from the call: time waiting in the
  /// client's queue and on the wire both count. A call past it fails with
  /// `timeout`, also one that is still queued. Both timeouts lie between
  /// 1 ms and a year (bad_argument otherwise).
  std::chrono::milliseconds timeout{5000};
  std::chrono::milliseconds connect_timeout{5000};  ///< connect() and the handshake
  /// connect(): how long the engine may stay silent before the connection
  /// counts as lost; heartbeats go every tenth of it. Give the engine the
  /// same (engine_options::peer_timeout; connect() refuses another one
  /// with bad_argument): each side drops a peer that heartbeats less often
  /// than its own timeout. Longer only for links
  /// whose round trip exceeds ~25 ms: a new connection's handshake must beat
  /// the next heartbeat (about 40 times the round trip; 60 under TLS).
  /// 1 s to 600 s; an in-process client (engine::client) has no connection.
  std::chrono::milliseconds peer_timeout{1000};
  /// Requests in flight per shard; more wait in the client, in order (the
  /// transport has no flow control of its own).
  std::size_t window = 16;
  /// Requests (one per shard a call touches) waiting in the client for a
  /// free window slot, over all shards; requests within a shard's window do
  /// not count. A call that would exceed it fails at once with `overloaded`
  /// and sends nothing: under more load than the engine serves, callers
  /// learn so instead of queueing without bound (wait() reports such
  /// refusals too). At least 1.
  std::size_t max_queued = 64;
  /// connect(): TLS with this client's certificate (tls.hpp); the engine
  /// must listen with TLS too. Empty: plain TCP and the secret.
  tls_options tls{};
};

/// Rows of a lookup: row i is values[i * width .. (i + 1) * width).
struct rows {
  std::uint32_t width = 0;
  std::vector<float> values;
  std::size_t size() const { return width == 0 ? 0 : values.size() / width; }
  const float* row(std::size_t i) const { return values.data() + i * width; }
};

/// Stale synchronous parallel for a loop of your own (what the engine's
/// training workers keep): `members` loops, each with its own client of one
/// engine and its own `member` index, form a group by name.
struct clock_group {
  std::string name;            ///< per engine; the first call fixes size and bound
  std::uint32_t member = 0;    ///< this loop's index in [0, members)
  std::uint32_t members = 1;   ///< how many loops the group has
  std::int64_t staleness = 0;  ///< steps ahead of the slowest; 0: lock-step; -1: unbounded
};

/// What a table is, as the engine serves it.
struct table_info {
  std::string name;
  bool is_sparse = false;
  std::uint64_t size = 0;          ///< dense: floats
  std::uint32_t width = 1;         ///< sparse: floats per row
  std::uint64_t row_id_limit = 0;  ///< sparse: ids must be below this (0 = any)
};

class client {
 public:
  template <class T>
  using callback = std::function<void(result<T>)>;

  /// Connects to an engine started with `listen` (engine.hpp) and proves the
  /// shared secret; over TLS when `options.tls` is set (the secret may then
  /// be empty, if the engine requires none); trailing whitespace (a secret
  /// file's final newline) is not part of it. Errors: bad_argument (no secret
  /// and no TLS, unusable TLS files), unreachable (also a refused TLS
  /// handshake, or an engine that went away meanwhile), auth_failed, timeout
  /// (no answer within connect_timeout, e.g. from an engine shutting down).
  ///   auto c = troupe::client::connect("127.0.0.1:7100", secret);
  ///   if (!c) return log(c.error().to_string());
  static result<client> connect(const std::string& address, const std::string& secret,
                                client_options options = {});

  client(client&&) noexcept;  ///< a moved-from client answers every call with `stopped`
  client& operator=(client&&) noexcept;
  /// Fails calls still pending with `stopped` and disconnects. In a
  /// completion callback (any client's), the disconnect finishes on a
  /// thread of its own once the callback has returned (the process waits
  /// for it when it exits); calls still pending then end with `stopped` on
  /// that thread, after ~client has returned. Destroyed by exit() called in
  /// a callback (a client in a global), it is left open to the process's end.
  ~client();

  /// Rows `ids` of sparse table `table` (created on first touch), in order.
  ///   auto f = c.lookup("emb", {3, 1, 3});
  ///   troupe::rows r = f.get().value();   // r.size() == 3; rows 0 and 2 hold the same values
  std::future<result<rows>> lookup(const std::string& table, std::vector<std::uint64_t> ids);
  /// The same with a callback. `done` runs once, on an engine thread (for a
  /// remote client: a thread of the client's own actor system), on the
  /// client's deadline thread when the call's timeout ends it (punctually,
  /// even while the engine's threads are busy), or on the caller's thread
  /// before lookup returns for calls refused before sending (validation
  /// errors, a stopped client) and empty calls. Keep it short:
  /// never block on another call's future in it (it may be the thread that
  /// future needs); wait() there answers bad_argument at once, since it would
  /// wait for the callback itself; issuing new calls and destroying the
  /// client are fine. An exception it throws is logged and dropped. An
  /// empty `done` (nullptr) makes the call fire and forget: wait() reports
  /// its failure. The other calls' callbacks behave the same.
  ///   c.lookup("emb", ids, [](troupe::result<troupe::rows> r) { reply(std::move(r)); });
  void lookup(const std::string& table, std::vector<std::uint64_t> ids, callback<rows> done);

  /// Pushes one gradient row per id (ids.size() * width floats); duplicate
  /// ids are summed first, and the sums must be finite and below 2^50 in
  /// magnitude (else non_finite and nothing is pushed). Applied at most once,
  /// by the table's optimizer; after timeout or peer_lost the outcome is
  /// unknown (see the top).
  ///   c.push("emb", {3, 8}, grads).get();   // grads.size() == 2 * 64
  std::future<result<void>> push(const std::string& table, std::vector<std::uint64_t> ids,
                                 std::vector<float> grads);
  void push(const std::string& table, std::vector<std::uint64_t> ids, std::vector<float> grads,
            callback<void> done);

  /// Values [offset, offset + count) of dense table `table`.
  ///   std::vector<float> w = c.pull("bias", 0, 10).get().value();
  std::future<result<std::vector<float>>> pull(const std::string& table, std::uint64_t offset,
                                               std::uint64_t count);
  void pull(const std::string& table, std::uint64_t offset, std::uint64_t count,
            callback<std::vector<float>> done);

  /// Pushes a gradient for dense keys [offset, offset + grads.size()).
  ///   c.push_dense("bias", 0, std::vector<float>(10, 0.5f));
  std::future<result<void>> push_dense(const std::string& table, std::uint64_t offset,
                                       std::vector<float> grads);
  void push_dense(const std::string& table, std::uint64_t offset, std::vector<float> grads,
                  callback<void> done);

  /// Ends this member's step of `group`: its clock (steps finished) goes up
  /// by one, and the result is ready once every other member has finished at
  /// least clock - staleness steps. Its value: the slowest member's clock.
  /// Call it once the step's pushes have landed (their futures are ready),
  /// so that a member that was let go pulls values that include them. No
  /// deadline: it waits as long as the slowest member takes; a member that
  /// leaves (leave_clock, or its client ends) no longer holds the others
  /// back (its own call, if one still waits, fails). Once every member has
  /// left or ended, the group is closed: advance_clock naming it fails (use
  /// a new name for the next round; leave_clock returns quietly). All
  /// groups share 2^20 slots (members + 32 each); groups no member is in
  /// give way first. Errors: bad_argument (index out of range, a size or
  /// bound other than the group's, an index another client holds, closed,
  /// no room, left while waiting), stopped (its engine stopped or its
  /// client ended; leave_clock too), peer_lost (the link to a remote engine).
  ///   troupe::clock_group g{"train", worker, 4, 2};
  ///   for (int step = 0; step < steps; ++step) {
  ///     auto w = c.pull("w", 0, n).get().value();
  ///     c.push_dense("w", 0, gradient(w)).get();
  ///     c.advance_clock(g).get();
  ///   }
  ///   c.leave_clock(g).get();   // finished: the others no longer wait for it
  std::future<result<std::int64_t>> advance_clock(const clock_group& group);
  void advance_clock(const clock_group& group, callback<std::int64_t> done);
  /// This member stops counting in `group` (for good: its index stays taken
  /// while the group lasts). An index another client holds is refused
  /// (bad_argument); one no client has advanced yet may be left by any
  /// client of the engine, so that a member that never started does not
  /// hold the others back for good.
  std::future<result<void>> leave_clock(const clock_group& group);

  /// Blocks until every table call (lookup, push, pull, push_dense) this
  /// client issued before wait() has finished; not clock calls, which have
  /// no deadline and may wait as long as the slowest member takes.
  /// Returns ok, or the first error of the calls that failed since the
  /// previous wait() returned (whether or not their futures were read),
  /// saying how many failed and why: a push fired and forgotten that was
  /// refused (overloaded, a full queue) or timed out is not lost unseen.
  /// Each failure is reported by one wait() only. In a completion callback
  /// (of any client) it could wait for callbacks that thread has yet to run:
  /// it answers bad_argument at once there.
  ///   for (auto& e : events) c.push("emb", e.ids, e.grads);
  ///   if (auto r = c.wait(); !r) retry_or_log(r.error());  // "overloaded: 936 calls failed..."
  result<void> wait();

  /// The tables the engine serves; one of them by name (unknown_table).
  ///   auto w = c.table("emb").value().width;
  std::vector<table_info> tables() const;
  result<table_info> table(const std::string& name) const;

  /// This client's id; the engine gives each client its own, so that its
  /// pushes carry unique (id, sequence number) pairs.
  std::uint32_t id() const;

  class impl;
  explicit client(std::unique_ptr<impl> p);

 private:
  // Shared only with the call under way on each thread (and a teardown
  // started in a callback), which must not lose it half-way.
  std::shared_ptr<impl> impl_;
};

}  // namespace troupe
