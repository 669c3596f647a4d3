#pragma once
// Server-side optimizers. A shard keeps the optimizer state next to the
// values it owns and applies each pushed gradient in place.
//
//   optimizer_spec spec{optimizer_kind::adagrad, 0.1f};
//   auto opt = make_optimizer(spec);
//   std::vector<float> state(opt->state_slots() * n);
//   opt->apply(w, g, n, state.data(), n, ++step, 1.0f);

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace troupe {

enum class optimizer_kind : std::uint8_t { sgd, momentum, adagrad, adam };

struct optimizer_spec {
  optimizer_kind kind = optimizer_kind::sgd;
  float learning_rate = 0.05f;
  float momentum = 0.9f;      ///< momentum: velocity decay
  float beta1 = 0.9f;         ///< adam
  float beta2 = 0.999f;       ///< adam
  float epsilon = 1e-8f;      ///< adagrad and adam denominators
  float weight_decay = 0.0f;  ///< L2 penalty added to the gradient: g + wd * w
};

/// "sgd", "momentum", "adagrad", "adam"; throws std::invalid_argument otherwise.
optimizer_kind parse_optimizer_kind(const std::string& text);
const char* to_string(optimizer_kind kind);

class optimizer {
 public:
  virtual ~optimizer() = default;
  /// Floats of state per parameter value (0 for SGD).
  virtual std::size_t state_slots() const = 0;
  /// Whether apply() reads `step`; only then must a caller count the updates
  /// of every value (a dense shard then keeps a count per key).
  virtual bool uses_step() const { return false; }
  /// Applies gradient `g` to `n` values `w`. State slot j of value i lives at
  /// state[j * stride + i]. `step` counts updates of these values from 1 (Adam's
  /// bias correction). `lr_scale` multiplies the learning rate of this update
  /// only (a staleness-aware update rule's modulation; 1 otherwise).
  virtual void apply(float* w, const float* g, std::size_t n, float* state, std::size_t stride,
                     std::uint64_t step, float lr_scale) const = 0;
  /// Applies the gradients of `n` rows of a sparse table: row i of `g`
  /// (`width` floats) to row rows[i] of `values`, whose state is at
  /// state + rows[i] * state_slots() * width (slot stride `width`); counts
  /// each row's update in steps[rows[i]]. The default calls apply() per row;
  /// optimizers without state update in one tight loop (a push of 100,000
  /// one-float rows made 100,000 virtual calls).
  virtual void apply_rows(float* values, const std::uint32_t* rows, const float* g, std::size_t n,
                          std::size_t width, float* state, std::uint64_t* steps,
                          float lr_scale) const;
};

std::unique_ptr<optimizer> make_optimizer(const optimizer_spec& spec);

/// Why `spec` cannot be applied (an unknown kind, a learning rate that is
/// not positive and finite, an epsilon of 0, which makes Adagrad and Adam
/// divide 0 by 0, momentum or a beta outside [0, 1), even where its kind
/// does not read it); empty when it can. Checked wherever a spec arrives: a
/// job's config, a table of the public API, a shard request from the network.
std::string check_optimizer(const optimizer_spec& spec);

/// Bytes a dense table keeps per key under `spec`: the value, the optimizer's
/// state, and a 4-byte update count where the optimizer reads one.
std::uint64_t dense_key_bytes(const optimizer_spec& spec);

}  // namespace troupe
