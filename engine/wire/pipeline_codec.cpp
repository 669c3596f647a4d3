#include "engine/wire/pipeline_codec.hpp"

#include <string>

#include "engine/wire/capnp_message.hpp"
#include "schemas/pipeline.capnp.h"

namespace troupe {

namespace {

constexpr std::uint16_t kVersion = wire::PIPELINE_VERSION;
constexpr std::size_t kHeaderWords = 32;

std::uint64_t payload_bytes(const stage_tensor_header& h) {
  return static_cast<std::uint64_t>(h.rows) * h.width * sizeof(float);
}

// Whether `rows` rows of `width` floats (plus `extra_per_row` bytes each)
// fit one message. Divides instead of multiplying: rows x width x 4 of two
// 32-bit fields can wrap 64 bits (2^31 x 2^31 x 4 = 0) and then pass as tiny.
bool fits_one_message(const stage_tensor_header& h, std::uint64_t extra_per_row) {
  const std::uint64_t per_row = std::uint64_t{h.width} * sizeof(float) + extra_per_row;
  return per_row == 0 || h.rows <= max_payload_bytes / per_row;
}

std::size_t words(std::uint64_t n_bytes) {
  return static_cast<std::size_t>((n_bytes + 7) / 8);
}

void check_size(const stage_tensor_header& h) {
  if (!fits_one_message(h, sizeof(std::int32_t))) {
    throw troupe_error(errc::wrong_size, std::to_string(h.rows) + " x " + std::to_string(h.width) +
                                             " activations exceed one message");
  }
}

status check_shape(const stage_tensor_view& v, std::size_t value_bytes) {
  if (v.rows == 0 || v.width == 0) {
    return {errc::wrong_size, "micro-batch of " + std::to_string(v.rows) + " rows x " +
                                  std::to_string(v.width) + " values"};
  }
  if (!fits_one_message(v, 0)) {
    return {errc::wrong_size, std::to_string(v.rows) + " rows x " + std::to_string(v.width) +
                                  " values exceed one message"};
  }
  if (value_bytes != payload_bytes(v)) {
    return {errc::wrong_size, std::to_string(v.rows) + " rows x " + std::to_string(v.width) +
                                  " need " + std::to_string(payload_bytes(v)) +
                                  " bytes of values, got " + std::to_string(value_bytes)};
  }
  return {};
}

status check_version(std::uint16_t version) {
  if (version == kVersion) return {};
  return {errc::version_mismatch, "pipeline protocol version " + std::to_string(version) +
                                      " (this build speaks " + std::to_string(kVersion) + ")"};
}

}  // namespace

activations_writer activations_writer::make(const stage_tensor_header& h) {
  check_size(h);
  const auto value_bytes = payload_bytes(h);
  activations_writer w(std::make_unique<flat_builder>(kHeaderWords + words(value_bytes) +
                                                      words(std::uint64_t{h.rows} * 4)));
  auto msg = w.builder_->initRoot<wire::Activations>();
  msg.setVersion(kVersion);
  msg.setPipeline(h.pipeline);
  msg.setStep(h.step);
  msg.setMicro(h.micro);
  msg.setMicroBatches(h.micro_batches);
  msg.setBatchRows(h.batch_rows);
  msg.setRows(h.rows);
  msg.setWidth(h.width);
  w.values_ = reinterpret_cast<float*>(msg.initValues(static_cast<unsigned>(value_bytes)).begin());
  w.count_ = static_cast<std::size_t>(h.rows) * h.width;
  w.labels_ = reinterpret_cast<std::int32_t*>(msg.initLabels(h.rows * 4).begin());
  return w;
}

activation_grads_writer activation_grads_writer::make(const stage_tensor_header& h) {
  check_size(h);
  const auto value_bytes = payload_bytes(h);
  activation_grads_writer w(std::make_unique<flat_builder>(kHeaderWords + words(value_bytes)));
  auto msg = w.builder_->initRoot<wire::ActivationGrads>();
  msg.setVersion(kVersion);
  msg.setPipeline(h.pipeline);
  msg.setStep(h.step);
  msg.setMicro(h.micro);
  msg.setRows(h.rows);
  msg.setWidth(h.width);
  w.values_ = reinterpret_cast<float*>(msg.initValues(static_cast<unsigned>(value_bytes)).begin());
  w.count_ = static_cast<std::size_t>(h.rows) * h.width;
  return w;
}

status decode_activations(const bytes& in, stage_tensor_view& out) {
  return with_reader(in, &out.keepalive, [&](capnp::MessageReader& reader) -> status {
    auto msg = reader.getRoot<wire::Activations>();
    if (auto st = check_version(msg.getVersion()); !st) return st;
    out.pipeline = msg.getPipeline();
    out.step = msg.getStep();
    out.micro = msg.getMicro();
    out.micro_batches = msg.getMicroBatches();
    out.batch_rows = msg.getBatchRows();
    out.rows = msg.getRows();
    out.width = msg.getWidth();
    auto values = msg.getValues();
    auto labels = msg.getLabels();
    if (auto st = check_shape(out, values.size()); !st) return st;
    if (out.micro >= out.micro_batches) {
      return {errc::wrong_size, "micro-batch " + std::to_string(out.micro) + " of " +
                                    std::to_string(out.micro_batches)};
    }
    if (out.rows > out.batch_rows) {
      return {errc::wrong_size, "micro-batch of " + std::to_string(out.rows) +
                                    " rows in a batch of " + std::to_string(out.batch_rows)};
    }
    if (labels.size() != std::size_t{out.rows} * 4) {
      return {errc::wrong_size, std::to_string(out.rows) + " rows need as many int32 labels, got " +
                                    std::to_string(labels.size()) + " bytes"};
    }
    out.values = reinterpret_cast<const float*>(values.begin());
    out.labels = reinterpret_cast<const std::int32_t*>(labels.begin());
    return {};
  });
}

status decode_activation_grads(const bytes& in, stage_tensor_view& out) {
  return with_reader(in, &out.keepalive, [&](capnp::MessageReader& reader) -> status {
    auto msg = reader.getRoot<wire::ActivationGrads>();
    if (auto st = check_version(msg.getVersion()); !st) return st;
    out.pipeline = msg.getPipeline();
    out.step = msg.getStep();
    out.micro = msg.getMicro();
    out.micro_batches = 0;
    out.batch_rows = 0;
    out.rows = msg.getRows();
    out.width = msg.getWidth();
    auto values = msg.getValues();
    if (auto st = check_shape(out, values.size()); !st) return st;
    out.values = reinterpret_cast<const float*>(values.begin());
    out.labels = nullptr;
    return {};
  });
}

}  // namespace troupe
