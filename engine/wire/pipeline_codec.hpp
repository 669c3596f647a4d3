#pragma once
// Cap'n Proto <-> engine types for schemas/pipeline.capnp: the activations a
// pipeline stage sends forward and the gradients it sends back. Writers give
// the caller the payload inside the message (the stage downloads its output
// straight into it); decoders validate every field and point into the bytes.
//
//   auto w = activations_writer::make({pipeline, step, m, M, batch_rows, rows, width});
//   stage.forward(m, x, rows, batch_rows, w.values());
//   std::copy(labels, labels + rows, w.labels());
//   bytes wire = std::move(w).finish();
//   ...
//   stage_tensor_view in;
//   if (auto st = decode_activations(wire, in); !st) { /* reject */ }

#include <cstdint>
#include <memory>

#include "engine/errors.hpp"
#include "engine/wire/wire_codec.hpp"

namespace troupe {

/// What identifies and shapes one micro-batch's tensor.
struct stage_tensor_header {
  std::uint32_t pipeline = 0;
  std::int64_t step = 0;
  std::uint32_t micro = 0;
  std::uint32_t micro_batches = 1;  ///< activations only
  std::uint32_t batch_rows = 0;     ///< activations only
  std::uint32_t rows = 0;
  std::uint32_t width = 0;
};

/// Activations writer: values() holds rows * width floats, labels() rows.
class activations_writer : public payload_writer {
 public:
  /// Throws troupe_error(wrong_size) when the payload exceeds one message.
  static activations_writer make(const stage_tensor_header& header);
  std::int32_t* labels() const { return labels_; }

 private:
  using payload_writer::payload_writer;
  std::int32_t* labels_ = nullptr;
};

/// ActivationGrads writer: values() holds rows * width floats.
class activation_grads_writer : public payload_writer {
 public:
  static activation_grads_writer make(const stage_tensor_header& header);

 private:
  using payload_writer::payload_writer;
};

/// A decoded tensor; pointers point into the message (or into keepalive).
struct stage_tensor_view : stage_tensor_header {
  const float* values = nullptr;          ///< rows * width floats
  const std::int32_t* labels = nullptr;   ///< activations: rows labels
  std::shared_ptr<const void> keepalive;  ///< set only when the input had to be realigned
};

/// Fill `out` or return malformed_message / version_mismatch / wrong_size
/// (zero rows or width, payload sizes that disagree with rows and width,
/// micro >= micro_batches, rows > batch_rows). `in` must outlive the view.
status decode_activations(const bytes& in, stage_tensor_view& out);
status decode_activation_grads(const bytes& in, stage_tensor_view& out);

}  // namespace troupe
