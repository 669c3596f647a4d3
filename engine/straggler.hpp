#pragma once
// Stragglers on purpose: a specification of how workers slow down, and the
// per-worker model that turns it into delays. Sweeps use it to see how the
// staleness bound copes with slow or noisy workers (job key train.stragglers,
// `troupe sweep --stragglers`).
//
// Grammar (parts joined with '+'; keys of a part in any order):
//
//   spec   := "none" | part ("+" part)*
//   part   := "fixed:worker=W,factor=F"
//           | "random:dist=(exp|uniform),mean_ms=M[,workers=(all|W)]"
//           | "dai:max_delay=D"
//
//   fixed   worker W's step takes F times its compute time (F >= 1): it
//           sleeps (F - 1) * compute time after each step.
//   random  each step of the affected workers (default: all) sleeps an extra
//           delay with mean M ms (M >= 0): exponential, or uniform on [0, 2M].
//   dai     the protocol of Dai et al., "Toward understanding the impact of
//           staleness in distributed machine learning" (ICLR 2019): every
//           gradient of every worker is d steps stale when it is applied (as
//           if computed on parameters d steps old), d drawn uniformly from
//           [0, D] per step. The worker holds each gradient back d clocks.
//
// Examples:
//   none
//   fixed:worker=0,factor=3
//   random:dist=exp,mean_ms=2
//   random:dist=uniform,mean_ms=5,workers=1
//   fixed:worker=0,factor=3+random:dist=exp,mean_ms=2
//   dai:max_delay=8
//
//   auto spec = parse_straggler_spec("fixed:worker=0,factor=3");
//   straggler_model model(spec, /*worker=*/0, job.seed);
//   sleep_for(model.extra_delay_s(compute_s));  // 2 * compute_s for worker 0

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace troupe {

struct straggler_spec {
  /// A worker slowed down by a constant factor.
  struct fixed_part {
    std::uint32_t worker = 0;  ///< worker id
    double factor = 1;         ///< step time / compute time, >= 1
    bool operator==(const fixed_part& o) const { return worker == o.worker && factor == o.factor; }
  };
  enum class distribution { exponential, uniform };
  /// Random extra delay per step.
  struct random_part {
    distribution dist = distribution::exponential;
    double mean_ms = 0;                   ///< mean extra delay per step, milliseconds, >= 0
    std::optional<std::uint32_t> worker;  ///< the one affected worker; empty = all workers
    bool operator==(const random_part& o) const {
      return dist == o.dist && mean_ms == o.mean_ms && worker == o.worker;
    }
  };

  /// Sorted by worker, one per worker at most.
  std::vector<fixed_part> fixed;
  /// In the order given (the canonical form keeps it).
  std::vector<random_part> random;
  /// Dai et al. delay bound D in steps; empty = no injected gradient delay.
  std::optional<std::uint32_t> dai_max_delay;

  /// True for "none": no part at all.
  bool none() const { return fixed.empty() && random.empty() && !dai_max_delay; }
  bool operator==(const straggler_spec& o) const {
    return fixed == o.fixed && random == o.random && dai_max_delay == o.dai_max_delay;
  }
  bool operator!=(const straggler_spec& o) const { return !(*this == o); }
};

/// Largest accepted dai max_delay: a worker holds up to max_delay steps of
/// gradients in memory, so larger values are a typo rather than an experiment.
constexpr std::uint32_t straggler_max_dai_delay = 10000;

/// Parses the grammar above; anything malformed throws
/// troupe_error(bad_config) naming the bad part and quoting the grammar.
straggler_spec parse_straggler_spec(const std::string& text);

/// Canonical text: fixed parts by worker, then random parts, then dai; keys
/// in grammar order, workers=all spelled out, shortest exact numbers.
/// parse_straggler_spec(to_string(s)) == s.
std::string to_string(const straggler_spec& spec);

/// Throws troupe_error(bad_config) when a part names a worker >= `workers`.
void check_straggler_workers(const straggler_spec& spec, std::uint32_t workers);

/// The delays one worker applies to itself. Deterministic in (spec, seed,
/// worker): a sweep's repeat with the same seed sees the same stragglers.
///
///   straggler_model m(parse_straggler_spec("dai:max_delay=4"), 1, 42);
///   auto d = m.gradient_delay();  // in [0, 4]: this step's gradient goes out d clocks late
class straggler_model {
 public:
  straggler_model(const straggler_spec& spec, std::uint32_t worker, std::uint64_t seed);

  /// Seconds to sleep after a step whose compute took `compute_s` seconds:
  /// (factor - 1) * compute_s plus one draw of every random part of this worker.
  double extra_delay_s(double compute_s);
  /// Staleness in steps to give the next gradient (0 = none): how many clocks
  /// the worker holds it back, or how old the parameters it is computed on are.
  std::uint32_t gradient_delay();
  /// The largest value gradient_delay() returns.
  std::uint32_t max_gradient_delay() const { return max_delay_; }
  /// False when the spec leaves this worker alone (no sleeping, no delay).
  bool active() const { return factor_ > 1 || !random_.empty() || max_delay_ > 0; }
  /// The constant slow-down factor of this worker (1 when none).
  double factor() const { return factor_; }

 private:
  double factor_ = 1;
  std::vector<straggler_spec::random_part> random_;  // only the parts that hit this worker
  std::uint32_t max_delay_ = 0;
  // Separate streams, so enabling one kind of straggler leaves the draws of
  // the other unchanged between two runs.
  std::mt19937_64 sleep_rng_;
  std::mt19937_64 delay_rng_;
};

}  // namespace troupe
