#pragma once
// Prometheus metrics of one Troupe process (a prometheus-cpp registry), served
// over HTTP at /metrics by a small server thread of its own (see the .cpp for
// why not prometheus-cpp's civetweb-based Exposer). Every method is
// thread-safe and cheap (an atomic add): actors on any scheduler thread call
// them directly.
//
//   auto metrics = std::make_shared<troupe::metrics_exporter>("127.0.0.1:9100");
//   metrics->add_push(bytes.size());          // in a shard's push handler
//   metrics->set_clock_lag(worker, lag);      // in the scheduler
//   // curl -s http://127.0.0.1:9100/metrics | grep troupe_
//
// Exported series (all prefixed `troupe_`): pushes_total, pulls_total,
// pulls_with_push_total, requests_by_key_list_total, key_lists_refused_total,
// bytes_in_total, bytes_out_total, messages_rejected_total,
// staleness_waits_total, clock_lag{worker="N"}, inflight_requests,
// actors_hosted, shared_memory_sent_total, shared_memory_received_total.

#include <cstdint>
#include <memory>
#include <string>

namespace troupe {

class metrics_exporter {
 public:
  /// Serves /metrics on `bind` ("HOST:PORT"; port 0 picks a free one). An
  /// empty `bind` or "0" counts without serving. Throws troupe_error(io_error)
  /// if the address cannot be bound.
  explicit metrics_exporter(const std::string& bind = {});
  ~metrics_exporter();
  metrics_exporter(const metrics_exporter&) = delete;
  metrics_exporter& operator=(const metrics_exporter&) = delete;

  /// The port /metrics is served on; 0 when not serving.
  std::uint16_t port() const;

  /// A push received (`bytes` of payload in) and answered.
  void add_push(std::uint64_t bytes_in);
  /// A pull answered with `bytes_out` bytes; `with_push`: it came with a
  /// push (PushRequest.pullAfter) rather than as a request of its own.
  void add_pull(std::uint64_t bytes_out, bool with_push = false);
  /// Key caching: a sparse request whose row ids came by name, or one
  /// refused because no list by that name is held here (it is resent).
  void add_by_key_list();
  void add_key_list_refused();
  void add_bytes_in(std::uint64_t n);
  void add_bytes_out(std::uint64_t n);
  /// A message refused: malformed, from an unauthenticated node, over a limit.
  void add_rejected(std::uint64_t n = 1);
  /// A worker step that had to wait on the staleness bound.
  void add_staleness_wait(std::uint64_t n = 1);
  /// Failure handling (counted by the scheduler and the workers).
  void add_failover();
  void add_worker_replaced();
  void add_resent(std::uint64_t n);
  /// A message sent to, or read from, another process through shared memory.
  void add_shared_sent();
  void add_shared_received();
  /// Clocks the worker is behind the fastest one.
  void set_clock_lag(std::uint32_t worker, double lag);
  /// Drops worker `worker`'s clock_lag series (it ended): a node serving job
  /// after job would otherwise export every past worker's last lag for good.
  void clear_clock_lag(std::uint32_t worker);
  /// Requests sent and not yet answered (count_inflight below).
  void add_inflight(double delta);
  void set_actors_hosted(double n);

  /// The current metrics in Prometheus text format (what /metrics returns).
  std::string render() const;

  /// Totals so far, for `troupe status`.
  struct totals {
    double pushes = 0, pulls = 0, bytes_in = 0, bytes_out = 0, rejected = 0, staleness_waits = 0;
  };
  totals snapshot() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// One request counted in inflight_requests from its sending until its
/// response handlers are gone: run, or dropped with the sending actor.
/// Capture the token in both handlers. CAF never runs the handlers of a
/// request still pending when its actor ends (a job's last prefetched pull,
/// pushes in flight when the job is released), so a -1 inside them left the
/// gauge of a daemon up for good. Null when `metrics` is.
using inflight_token = std::shared_ptr<void>;
inflight_token count_inflight(const std::shared_ptr<metrics_exporter>& metrics);

}  // namespace troupe
