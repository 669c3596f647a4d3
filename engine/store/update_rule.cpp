#include "engine/store/update_rule.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace troupe {

update_rule_kind parse_update_rule_kind(const std::string& text) {
  if (text == "plain") return update_rule_kind::plain;
  if (text == "staleness") return update_rule_kind::staleness;
  if (text == "dcasgd") return update_rule_kind::dcasgd;
  throw std::invalid_argument("unknown update rule '" + text +
                              "' (expected plain, staleness or dcasgd)");
}

const char* to_string(update_rule_kind kind) {
  switch (kind) {
    case update_rule_kind::plain:
      return "plain";
    case update_rule_kind::staleness:
      return "staleness";
    case update_rule_kind::dcasgd:
      return "dcasgd";
  }
  return "unknown";
}

std::string describe(const update_rule_spec& spec) {
  char buf[96];
  std::string out = to_string(spec.kind);
  if (spec.kind == update_rule_kind::dcasgd) {
    std::snprintf(buf, sizeof buf, "(lambda=%g)", static_cast<double>(spec.dc_lambda));
    out += buf;
  }
  if (spec.kind == update_rule_kind::staleness && spec.min_staleness > 1) {
    out += "(min=" + std::to_string(spec.min_staleness) + ")";
  }
  if (spec.clip_norm > 0) {
    std::snprintf(buf, sizeof buf, ",clip=%g", static_cast<double>(spec.clip_norm));
    out += buf;
  }
  if (spec.warmup_pushes > 0) out += ",warmup=" + std::to_string(spec.warmup_pushes);
  if (spec.half_life_pushes > 0) out += ",half_life=" + std::to_string(spec.half_life_pushes);
  return out;
}

void check_update_rule(const update_rule_spec& spec) {
  if (!(spec.dc_lambda >= 0) || !std::isfinite(spec.dc_lambda)) {
    throw std::invalid_argument("dc_lambda must be a finite number >= 0");
  }
  if (!(spec.clip_norm >= 0) || !std::isfinite(spec.clip_norm)) {
    throw std::invalid_argument("clip_norm must be a finite number >= 0 (0 = no clipping)");
  }
}

update_rule::update_rule(const update_rule_spec& spec) : spec_(spec) {
  check_update_rule(spec);
}

update_rule::push_plan update_rule::plan_push(const float* g, std::size_t n,
                                              std::uint64_t staleness,
                                              std::uint64_t version) const {
  push_plan plan;
  double lr = 1;
  if (spec_.kind == update_rule_kind::staleness) {
    lr /= static_cast<double>(std::max<std::uint64_t>({1, spec_.min_staleness, staleness}));
  }
  const auto v = static_cast<double>(version);
  if (spec_.warmup_pushes > 0 && version < spec_.warmup_pushes) {
    lr *= (v + 1) / static_cast<double>(spec_.warmup_pushes);
  }
  if (spec_.half_life_pushes > 0) lr /= 1 + v / static_cast<double>(spec_.half_life_pushes);
  plan.lr_scale = static_cast<float>(lr);
  if (spec_.clip_norm > 0) {
    // In double: a push of a million floats would lose the small squares.
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += static_cast<double>(g[i]) * g[i];
    const double norm = std::sqrt(sum);
    if (norm > spec_.clip_norm) plan.grad_scale = static_cast<float>(spec_.clip_norm / norm);
  }
  return plan;
}

const float* update_rule::gradient(const push_plan& plan, const float* g, std::size_t n,
                                   const float* w_now, const float* w_pulled, float* out) const {
  const bool compensate =
      spec_.kind == update_rule_kind::dcasgd && w_pulled != nullptr && spec_.dc_lambda > 0;
  if (!compensate && plan.grad_scale == 1.0f) return g;
  const float s = plan.grad_scale;
  if (!compensate) {
    for (std::size_t i = 0; i < n; ++i) out[i] = s * g[i];
    return out;
  }
  // The clipped gradient is the one compensated: a huge g would otherwise
  // enter the correction squared.
  const float lambda = spec_.dc_lambda;
  for (std::size_t i = 0; i < n; ++i) {
    const float gi = s * g[i];
    out[i] = gi + lambda * gi * gi * (w_now[i] - w_pulled[i]);
  }
  return out;
}

}  // namespace troupe
