#include "actors/metrics_exporter.hpp"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <exception>

#include "engine/errors.hpp"

namespace troupe {

using prometheus::BuildCounter;
using prometheus::BuildGauge;

struct metrics_exporter::impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Counter& counter(const char* name, const char* help) {
    return BuildCounter().Name(name).Help(help).Register(*registry).Add({});
  }
  prometheus::Gauge& gauge(const char* name, const char* help) {
    return BuildGauge().Name(name).Help(help).Register(*registry).Add({});
  }
  prometheus::Counter& pushes = counter("troupe_pushes_total", "Pushes applied or acknowledged");
  prometheus::Counter& pulls = counter("troupe_pulls_total", "Pulls answered");
  prometheus::Counter& bytes_in = counter("troupe_bytes_in_total", "Payload bytes received");
  prometheus::Counter& bytes_out = counter("troupe_bytes_out_total", "Payload bytes sent");
  prometheus::Counter& rejected = counter(
      "troupe_messages_rejected_total", "Messages refused (malformed, unauthenticated, limits)");
  prometheus::Counter& staleness_waits =
      counter("troupe_staleness_waits_total", "Worker steps that waited on the staleness bound");
  prometheus::Family<prometheus::Gauge>& clock_lag =
      BuildGauge()
          .Name("troupe_clock_lag")
          .Help("Clocks a worker is behind the fastest worker")
          .Register(*registry);
  prometheus::Gauge& inflight =
      gauge("troupe_inflight_requests", "Requests sent and not yet answered");
  prometheus::Gauge& hosted = gauge("troupe_actors_hosted", "Shards and workers hosted by this node");
  std::unique_ptr<prometheus::Exposer> exposer;
};

metrics_exporter::metrics_exporter(const std::string& bind) : impl_(std::make_unique<impl>()) {
  if (bind.empty() || bind == "0") return;
  try {
    impl_->exposer = std::make_unique<prometheus::Exposer>(bind, 1);
  } catch (const std::exception& e) {
    throw troupe_error(errc::io_error,
                       "cannot serve metrics on " + bind + ": " + std::string(e.what()));
  }
  impl_->exposer->RegisterCollectable(impl_->registry);
}

metrics_exporter::~metrics_exporter() = default;

std::uint16_t metrics_exporter::port() const {
  if (!impl_->exposer) return 0;
  const auto ports = impl_->exposer->GetListeningPorts();
  return ports.empty() ? 0 : static_cast<std::uint16_t>(ports.front());
}

void metrics_exporter::add_push(std::uint64_t bytes_in) {
  impl_->pushes.Increment();
  impl_->bytes_in.Increment(static_cast<double>(bytes_in));
}

void metrics_exporter::add_pull(std::uint64_t bytes_out) {
  impl_->pulls.Increment();
  impl_->bytes_out.Increment(static_cast<double>(bytes_out));
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

void metrics_exporter::add_staleness_wait(std::uint64_t n) {
  impl_->staleness_waits.Increment(static_cast<double>(n));
}

void metrics_exporter::set_clock_lag(std::uint32_t worker, double lag) {
  impl_->clock_lag.Add({{"worker", std::to_string(worker)}}).Set(lag);
}

void metrics_exporter::add_inflight(double delta) { impl_->inflight.Increment(delta); }

void metrics_exporter::set_actors_hosted(double n) { impl_->hosted.Set(n); }

std::string metrics_exporter::render() const {
  return prometheus::TextSerializer().Serialize(impl_->registry->Collect());
}

}  // namespace troupe
