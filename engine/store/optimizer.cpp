#include "engine/store/optimizer.hpp"

#include <cmath>
#include <stdexcept>

namespace troupe {

optimizer_kind parse_optimizer_kind(const std::string& text) {
  if (text == "sgd") return optimizer_kind::sgd;
  if (text == "momentum") return optimizer_kind::momentum;
  if (text == "adagrad") return optimizer_kind::adagrad;
  if (text == "adam") return optimizer_kind::adam;
  throw std::invalid_argument("unknown optimizer '" + text +
                              "' (expected sgd, momentum, adagrad or adam)");
}

std::string check_optimizer(const optimizer_spec& o) {
  // NaN fails every comparison below, so each one is written to refuse it.
  if (o.kind > optimizer_kind::adam) return "unknown optimizer";
  if (!(o.learning_rate > 0) || !std::isfinite(o.learning_rate)) {
    return "the learning rate must be positive and finite";
  }
  // Gradients stay below 2^50 (the shards' non_finite check); a rate up to
  // 1e6 keeps every update far inside a float's range. With 1e30 one push
  // of 1e10 set a value to -inf, which the shard then served.
  if (o.learning_rate > 1e6f) return "the learning rate must be at most 1e6";
  // Every setting, whichever the kind reads: a value out of range is a
  // mistake even where it is unused, and refused alike everywhere.
  if (!(o.epsilon > 0) || !std::isfinite(o.epsilon)) return "epsilon must be positive and finite";
  if (!(o.beta1 >= 0 && o.beta1 < 1)) return "beta1 must be in [0, 1)";
  if (!(o.beta2 >= 0 && o.beta2 < 1)) return "beta2 must be in [0, 1)";
  if (!(o.momentum >= 0 && o.momentum < 1)) return "momentum must be in [0, 1)";
  if (!(o.weight_decay >= 0) || !std::isfinite(o.weight_decay)) {
    return "weight decay must be finite and >= 0";
  }
  // As for the rate: 1e30 made the shards serve inf, then NaN, while every
  // push was acknowledged.
  if (o.weight_decay > 1e6f) return "weight decay must be at most 1e6";
  // SGD and momentum scale each value by 1 - lr x decay per step (besides
  // the gradient): above 1 it flips sign, above 2 it grows without bound
  // (sgd 1.0 with decay 1e3 reached inf in 13 pushes of zeros). Adagrad and
  // Adam normalise the decayed gradient, so their steps stay near the rate.
  if ((o.kind == optimizer_kind::sgd || o.kind == optimizer_kind::momentum) &&
      static_cast<double>(o.learning_rate) * o.weight_decay > 1.0) {
    return "the learning rate x weight decay must be at most 1 for " +
           std::string(to_string(o.kind)) + " (each step scales the values by 1 - lr x decay)";
  }
  return {};
}

std::uint64_t dense_key_bytes(const optimizer_spec& spec) {
  const auto opt = make_optimizer(spec);
  return sizeof(float) * (1 + opt->state_slots()) + (opt->uses_step() ? sizeof(std::uint32_t) : 0);
}

const char* to_string(optimizer_kind kind) {
  switch (kind) {
    case optimizer_kind::sgd:
      return "sgd";
    case optimizer_kind::momentum:
      return "momentum";
    case optimizer_kind::adagrad:
      return "adagrad";
    case optimizer_kind::adam:
      return "adam";
  }
  return "unknown";
}

namespace {

// The update loops every push runs over a shard's whole range: built for
// AVX-512 and AVX2 as well, picked at load time (the build targets plain
// x86-64). A gradient never aliases the values it updates.
#define TROUPE_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

TROUPE_VECTOR_CLONES void sgd_update(float* __restrict w, const float* __restrict g, std::size_t n,
                                     float lr, float wd) {
  for (std::size_t i = 0; i < n; ++i) w[i] -= lr * (g[i] + wd * w[i]);
}

// The same update as sgd_update (built the same way, so the same rounding),
// row by row of a sparse push.
TROUPE_VECTOR_CLONES void sgd_rows(float* values, const std::uint32_t* rows,
                                   const float* __restrict g, std::size_t n, std::size_t width,
                                   std::uint64_t* steps, float lr, float wd) {
  for (std::size_t i = 0; i < n; ++i) {
    float* __restrict w = values + static_cast<std::size_t>(rows[i]) * width;
    const float* gi = g + i * width;
    for (std::size_t j = 0; j < width; ++j) w[j] -= lr * (gi[j] + wd * w[j]);
    ++steps[rows[i]];
  }
}

TROUPE_VECTOR_CLONES void momentum_update(float* __restrict w, const float* __restrict g,
                                          float* __restrict v, std::size_t n, float lr, float mu,
                                          float wd) {
  for (std::size_t i = 0; i < n; ++i) {
    v[i] = mu * v[i] + (g[i] + wd * w[i]);
    w[i] -= lr * v[i];
  }
}

class sgd final : public optimizer {
 public:
  explicit sgd(const optimizer_spec& s) : s_(s) {}
  std::size_t state_slots() const override { return 0; }
  void apply_rows(float* values, const std::uint32_t* rows, const float* g, std::size_t n,
                  std::size_t width, float*, std::uint64_t* steps, float lr_scale) const override {
    sgd_rows(values, rows, g, n, width, steps, s_.learning_rate * lr_scale, s_.weight_decay);
  }
  void apply(float* w, const float* g, std::size_t n, float*, std::size_t, std::uint64_t,
             float lr_scale) const override {
    sgd_update(w, g, n, s_.learning_rate * lr_scale, s_.weight_decay);
  }

 private:
  optimizer_spec s_;
};

class momentum final : public optimizer {
 public:
  explicit momentum(const optimizer_spec& s) : s_(s) {}
  std::size_t state_slots() const override { return 1; }
  void apply(float* w, const float* g, std::size_t n, float* v, std::size_t, std::uint64_t,
             float lr_scale) const override {
    momentum_update(w, g, v, n, s_.learning_rate * lr_scale, s_.momentum, s_.weight_decay);
  }

 private:
  optimizer_spec s_;
};

class adagrad final : public optimizer {
 public:
  explicit adagrad(const optimizer_spec& s) : s_(s) {}
  std::size_t state_slots() const override { return 1; }
  void apply(float* w, const float* g, std::size_t n, float* h, std::size_t, std::uint64_t,
             float lr_scale) const override {
    const float lr = s_.learning_rate * lr_scale, eps = s_.epsilon, wd = s_.weight_decay;
    for (std::size_t i = 0; i < n; ++i) {
      const float gi = g[i] + wd * w[i];
      h[i] += gi * gi;
      w[i] -= lr * gi / (std::sqrt(h[i]) + eps);
    }
  }

 private:
  optimizer_spec s_;
};

class adam final : public optimizer {
 public:
  explicit adam(const optimizer_spec& s) : s_(s) {}
  std::size_t state_slots() const override { return 2; }
  bool uses_step() const override { return true; }
  void apply(float* w, const float* g, std::size_t n, float* state, std::size_t stride,
             std::uint64_t step, float lr_scale) const override {
    float* m = state;
    float* v = state + stride;
    const double t = static_cast<double>(step == 0 ? 1 : step);
    const float c1 = static_cast<float>(1.0 / (1.0 - std::pow(s_.beta1, t)));
    const float c2 = static_cast<float>(1.0 / (1.0 - std::pow(s_.beta2, t)));
    const float b1 = s_.beta1, b2 = s_.beta2, lr = s_.learning_rate * lr_scale, eps = s_.epsilon;
    for (std::size_t i = 0; i < n; ++i) {
      const float gi = g[i] + s_.weight_decay * w[i];
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      w[i] -= lr * (m[i] * c1) / (std::sqrt(v[i] * c2) + eps);
    }
  }

 private:
  optimizer_spec s_;
};

}  // namespace

void optimizer::apply_rows(float* values, const std::uint32_t* rows, const float* g, std::size_t n,
                           std::size_t width, float* state, std::uint64_t* steps,
                           float lr_scale) const {
  const std::size_t slots = state_slots();
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t r = rows[i];
    apply(values + r * width, g + i * width, width, slots ? state + r * slots * width : nullptr,
          width, ++steps[r], lr_scale);
  }
}

std::unique_ptr<optimizer> make_optimizer(const optimizer_spec& spec) {
  if (!(spec.learning_rate > 0) || !std::isfinite(spec.learning_rate)) {
    throw std::invalid_argument("learning rate must be a positive finite number");
  }
  switch (spec.kind) {
    case optimizer_kind::sgd:
      return std::make_unique<sgd>(spec);
    case optimizer_kind::momentum:
      return std::make_unique<momentum>(spec);
    case optimizer_kind::adagrad:
      return std::make_unique<adagrad>(spec);
    case optimizer_kind::adam:
      return std::make_unique<adam>(spec);
  }
  throw std::invalid_argument("unknown optimizer kind");
}

}  // namespace troupe
