#include "actors/metrics_exporter.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <map>
#include <memory>
#include <mutex>
#include <string_view>

#include "actors/http_endpoint.hpp"
#include "engine/errors.hpp"

// /metrics is served by a small HTTP server of our own (actors/http_endpoint)
// rather than prometheus-cpp's Exposer. The Exposer runs on civetweb, and
// Debian's civetweb 1.15 starts every thread with a fixed 100 KiB stack
// (USE_STACK_SIZE=102400). glibc carves the static TLS of all the libraries
// loaded at startup out of each thread's stack, and pthread_create refuses
// with EINVAL when the stack cannot hold it. A troupe built with CUDA loads
// cuBLASLt, cuBLAS, cudart and OpenBLAS, about 182 KiB of static TLS, so
// civetweb could start no thread at all: it failed with "Cannot create
// threads" (and a stale errno), which prometheus-cpp turned into "null context
// when constructing CivetServer. Possible problem binding to port." Our
// server's thread has the default (8 MiB) stack, which has room for any TLS,
// serves many clients at once (an idle one blocks nobody) and stops at once.

namespace troupe {

using prometheus::BuildCounter;
using prometheus::BuildGauge;

struct metrics_exporter::impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::mutex clock_lag_mutex;
  prometheus::Counter& counter(const char* name, const char* help) {
    return BuildCounter().Name(name).Help(help).Register(*registry).Add({});
  }
  prometheus::Gauge& gauge(const char* name, const char* help) {
    return BuildGauge().Name(name).Help(help).Register(*registry).Add({});
  }
  prometheus::Counter& pushes = counter("troupe_pushes_total", "Pushes applied or acknowledged");
  prometheus::Counter& pulls = counter("troupe_pulls_total", "Pulls answered");
  prometheus::Counter& pulls_with_push = counter(
      "troupe_pulls_with_push_total", "Pulls answered with the notice of the push they came with");
  prometheus::Counter& by_key_list =
      counter("troupe_requests_by_key_list_total",
              "Sparse pushes and pulls whose row ids came by key-list name");
  prometheus::Counter& key_lists_refused =
      counter("troupe_key_lists_refused_total",
              "Requests refused for a key-list name not held here (the sender resends the ids)");
  prometheus::Counter& bytes_in = counter("troupe_bytes_in_total", "Payload bytes received");
  prometheus::Counter& bytes_out = counter("troupe_bytes_out_total", "Payload bytes sent");
  prometheus::Counter& rejected = counter("troupe_messages_rejected_total",
                                          "Messages refused (malformed, unauthenticated, limits)");
  prometheus::Counter& staleness_waits =
      counter("troupe_staleness_waits_total", "Worker steps that waited on the staleness bound");
  prometheus::Family<prometheus::Gauge>& clock_lag =
      BuildGauge()
          .Name("troupe_clock_lag")
          .Help("Clocks a worker is behind the fastest worker")
          .Register(*registry);
  prometheus::Gauge& inflight =
      gauge("troupe_inflight_requests", "Requests sent and not yet answered");
  prometheus::Gauge& hosted =
      gauge("troupe_actors_hosted", "Shards and workers hosted by this node");
  prometheus::Counter& failovers =
      counter("troupe_shard_failovers_total", "Shards whose primary was lost and replaced");
  prometheus::Counter& workers_replaced =
      counter("troupe_workers_replaced_total", "Lost workers whose partition was taken over");
  prometheus::Counter& resent =
      counter("troupe_pushes_resent_total", "Pushes resent after a shard failover");
  prometheus::Counter& shared_sent =
      counter("troupe_shared_memory_sent_total",
              "Messages sent to a process on this host through shared memory");
  prometheus::Counter& shared_received =
      counter("troupe_shared_memory_received_total",
              "Messages read from a process on this host through shared memory");

  std::unique_ptr<http_endpoint> server;  // null when not serving

  std::string render() const { return prometheus::TextSerializer().Serialize(registry->Collect()); }
};

metrics_exporter::metrics_exporter(const std::string& bind) : impl_(std::make_unique<impl>()) {
  if (bind.empty() || bind == "0") return;
  impl_->server = std::make_unique<http_endpoint>(
      bind, [impl = impl_.get()](std::string_view target) -> http_reply {
        if (target != "/metrics") return {404, "text/plain", "metrics are at /metrics\n"};
        return {200, "text/plain; version=0.0.4; charset=utf-8", impl->render()};
      });
}

metrics_exporter::~metrics_exporter() = default;

std::uint16_t metrics_exporter::port() const {
  return impl_->server ? impl_->server->port() : 0;
}

void metrics_exporter::add_push(std::uint64_t bytes_in) {
  impl_->pushes.Increment();
  impl_->bytes_in.Increment(static_cast<double>(bytes_in));
}

void metrics_exporter::add_pull(std::uint64_t bytes_out, bool with_push) {
  impl_->pulls.Increment();
  if (with_push) impl_->pulls_with_push.Increment();
  impl_->bytes_out.Increment(static_cast<double>(bytes_out));
}

void metrics_exporter::add_by_key_list() {
  impl_->by_key_list.Increment();
}
void metrics_exporter::add_key_list_refused() {
  impl_->key_lists_refused.Increment();
}

void metrics_exporter::add_bytes_in(std::uint64_t n) {
  impl_->bytes_in.Increment(static_cast<double>(n));
}

void metrics_exporter::add_bytes_out(std::uint64_t n) {
  impl_->bytes_out.Increment(static_cast<double>(n));
}

void metrics_exporter::add_rejected(std::uint64_t n) {
  impl_->rejected.Increment(static_cast<double>(n));
}

void metrics_exporter::add_failover() {
  impl_->failovers.Increment();
}
void metrics_exporter::add_worker_replaced() {
  impl_->workers_replaced.Increment();
}
void metrics_exporter::add_resent(std::uint64_t n) {
  impl_->resent.Increment(static_cast<double>(n));
}

void metrics_exporter::add_shared_sent() {
  impl_->shared_sent.Increment();
}
void metrics_exporter::add_shared_received() {
  impl_->shared_received.Increment();
}

void metrics_exporter::add_staleness_wait(std::uint64_t n) {
  impl_->staleness_waits.Increment(static_cast<double>(n));
}

// Under one lock: Add() hands out a reference after the family's own lock is
// released, and a Remove() from another worker's end (two jobs may both have
// a worker 0 on this node) would free the gauge under it.
void metrics_exporter::set_clock_lag(std::uint32_t worker, double lag) {
  std::lock_guard<std::mutex> lock(impl_->clock_lag_mutex);
  impl_->clock_lag.Add({{"worker", std::to_string(worker)}}).Set(lag);
}

void metrics_exporter::clear_clock_lag(std::uint32_t worker) {
  std::lock_guard<std::mutex> lock(impl_->clock_lag_mutex);
  const std::map<std::string, std::string> labels{{"worker", std::to_string(worker)}};
  if (impl_->clock_lag.Has(labels)) impl_->clock_lag.Remove(&impl_->clock_lag.Add(labels));
}

void metrics_exporter::add_inflight(double delta) {
  impl_->inflight.Increment(delta);
}

inflight_token count_inflight(const std::shared_ptr<metrics_exporter>& metrics) {
  if (!metrics) return nullptr;
  metrics->add_inflight(1);
  return {static_cast<void*>(metrics.get()), [metrics](void*) { metrics->add_inflight(-1); }};
}

void metrics_exporter::set_actors_hosted(double n) {
  impl_->hosted.Set(n);
}

metrics_exporter::totals metrics_exporter::snapshot() const {
  return {impl_->pushes.Value(),    impl_->pulls.Value(),    impl_->bytes_in.Value(),
          impl_->bytes_out.Value(), impl_->rejected.Value(), impl_->staleness_waits.Value()};
}

std::string metrics_exporter::render() const {
  return impl_->render();
}

}  // namespace troupe
