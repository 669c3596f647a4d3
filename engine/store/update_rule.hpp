#pragma once
// Staleness-aware update rules: what a shard does with a pushed gradient
// before its optimizer applies it, knowing how stale the push is (the
// table's version now minus the version the worker pulled) and, for delay
// compensation, which values the worker computed it on.
//
//   plain      the optimizer applies g as it is (asynchronous SGD)
//   staleness  the learning rate of this push is divided by its staleness
//              tau (Zhang et al., IJCAI 2016): lr / max(1, tau), or
//              lr / max(min_staleness, tau) to cap what a fresh push gets
//   dcasgd     delay compensation (Zheng et al., ICML 2017, DC-ASGD-c): the
//              gradient, computed on w_pulled, is moved towards the one at
//              w_now by the first-order term
//                g' = g + lambda * g * g * (w_now - w_pulled)   (elementwise)
//   clip_norm  with any rule: a push whose gradient has an L2 norm above
//              clip_norm is scaled down to it first (the norm of the part of
//              the gradient this shard owns, not of the whole model's)
//   schedule   with any rule, by the pushes v the table slice has applied:
//              warm-up lr * min(1, (v + 1) / warmup_pushes), then decay
//              lr / (1 + v / half_life_pushes) (each off at 0)
//
//   update_rule rule({update_rule_kind::dcasgd, 0.04f});
//   auto plan = rule.plan_push(g, n, staleness, version);
//   const float* applied = rule.gradient(plan, g, n, w_now, w_pulled, scratch);
//   opt->apply(w_now, applied, n, state, stride, step, plan.lr_scale);

#include <cstddef>
#include <cstdint>
#include <string>

namespace troupe {

enum class update_rule_kind : std::uint8_t { plain, staleness, dcasgd };

struct update_rule_spec {
  update_rule_kind kind = update_rule_kind::plain;
  /// dcasgd: lambda, the weight of the g*g*(w_now - w_pulled) term (the
  /// paper's constant lambda_0; its adaptive variant is not implemented).
  float dc_lambda = 0.04f;
  /// > 0: pushed gradients are scaled down to at most this L2 norm; 0 = off.
  float clip_norm = 0.0f;
  /// staleness: pushes count as at least this stale (1 = the paper's rule).
  /// With hundreds of workers the rare fresh push would otherwise get the
  /// full, large base rate.
  std::uint64_t min_staleness = 1;
  /// > 0: the learning rate ramps up linearly over the slice's first pushes.
  std::uint64_t warmup_pushes = 0;
  /// > 0: the learning rate decays as 1 / (1 + pushes / half_life_pushes).
  std::uint64_t half_life_pushes = 0;

  bool operator==(const update_rule_spec& o) const {
    return kind == o.kind && dc_lambda == o.dc_lambda && clip_norm == o.clip_norm &&
           min_staleness == o.min_staleness && warmup_pushes == o.warmup_pushes &&
           half_life_pushes == o.half_life_pushes;
  }
  bool operator!=(const update_rule_spec& o) const { return !(*this == o); }
};

/// "plain", "staleness", "dcasgd"; throws std::invalid_argument otherwise.
update_rule_kind parse_update_rule_kind(const std::string& text);
const char* to_string(update_rule_kind kind);
/// "plain", "staleness", "dcasgd(lambda=0.04)", each with ",clip=1" when
/// clipping, ",warmup=N" and ",half_life=N" with a schedule.
std::string describe(const update_rule_spec& spec);
/// Throws std::invalid_argument naming the field when lambda or clip_norm is
/// negative or not finite.
void check_update_rule(const update_rule_spec& spec);

/// A rule bound to its settings; stateless, so one serves a whole table.
class update_rule {
 public:
  explicit update_rule(const update_rule_spec& spec = {});

  const update_rule_spec& spec() const { return spec_; }
  /// Whether the shard must remember the values each worker pulled.
  bool needs_pulled_values() const { return spec_.kind == update_rule_kind::dcasgd; }
  /// Whether gradient() may write its `out` buffer (else it returns `g`).
  bool may_rewrite() const { return needs_pulled_values() || spec_.clip_norm > 0; }

  /// What the rule does to one push, decided once for all its values.
  struct push_plan {
    float lr_scale = 1.0f;    ///< multiplies the optimizer's learning rate
    float grad_scale = 1.0f;  ///< clipping: multiplies the gradient
  };
  /// `g`: all `n` values of the push (clipping needs their norm);
  /// `staleness`: the push's observed staleness in applied pushes;
  /// `version`: the pushes the table slice applied before this one.
  push_plan plan_push(const float* g, std::size_t n, std::uint64_t staleness,
                      std::uint64_t version = 0) const;

  /// The gradient to apply to `n` values now at `w_now`: `g` itself when the
  /// rule leaves it unchanged, else `out` (n floats, filled here). `w_pulled`
  /// (the values the gradient was computed on) may be null: delay
  /// compensation is then skipped for these values.
  const float* gradient(const push_plan& plan, const float* g, std::size_t n, const float* w_now,
                        const float* w_pulled, float* out) const;

 private:
  update_rule_spec spec_;
};

}  // namespace troupe
