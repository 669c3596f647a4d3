// The scheduler's model selection on a validation set (see
// scheduler_state.hpp): how evaluations are reported, early stopping, and
// the best parameters kept in <output_dir>/best/.
#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <filesystem>
#include <fstream>

#include "actors/actor_config.hpp"
#include "actors/scheduler_state.hpp"

namespace troupe::scheduler_detail {

// "test accuracy 87.12% (log-loss 0.3601)" or "test RMSE 0.8712 (MAE 0.6701)".
std::string describe_metrics(const char* set, bool regression, double accuracy, double loss,
                             double mae) {
  return regression
             ? fmt::format("{} RMSE {:.4f} (MAE {:.4f})", set, loss, mae)
             : fmt::format("{} accuracy {:.2f}% (log-loss {:.4f})", set, 100.0 * accuracy, loss);
}

// Early stopping ends the job now: the workers are told to stop (they are
// no longer running, so their exit is no failure), and the job finishes
// like one whose workers are done.
void stop_early(scheduler_pointer self, std::uint32_t epoch) {
  auto& st = self->state;
  st.summary.stopped_early = true;
  st.stop_epoch = epoch + 1;
  spdlog::info(
      "early stopping in epoch {}: no better validation loss in {} evaluations (best {:.4f} in "
      "epoch {}); stopping the workers",
      epoch + 1, st.validation.since_best(), st.validation.best_loss(), st.validation.best_epoch());
  for (const auto w : std::vector<std::uint32_t>(st.running.begin(), st.running.end())) {
    const auto clock = std::max<std::int64_t>(0, st.clocks->clock_of(w));
    st.finished_clock = std::max(st.finished_clock, clock);
    st.finished_steps += static_cast<std::uint64_t>(clock - st.start_clock[w]);
    // Left in the clock table: their clock requests already on the way are
    // answered as usual (the bound holds no one back, all of them stop).
    if (w < st.workers.size() && st.workers[w]) {
      self->send_exit(st.workers[w], caf::exit_reason::user_shutdown);
    }
  }
  st.running.clear();
  st.next_eval = st.job.epochs;  // nothing more to evaluate
}

namespace {

// Asks shard k's current copy for its part of the best/ round under way.
void ask_best_checkpoint(scheduler_pointer self, std::uint32_t k) {
  auto& st = self->state;
  auto& b = st.best_round;
  const auto ask = ++b.asks;
  b.waiting[k] = ask;
  const auto dir = std::filesystem::path(st.checkpoint_dir).parent_path() / "best";
  const auto clock = b.clock;
  self->request(st.shards[k], std::chrono::seconds(120), checkpoint_atom::value, dir.string(),
                st.job.name, clock, b.held_round)
      .then(
          [=](const std::string&) {
            auto& b = self->state.best_round;
            // An answer to a replaced copy or a superseded round counts for nothing.
            const auto it = b.waiting.find(k);
            if (it == b.waiting.end() || it->second != ask) return;
            b.waiting.erase(it);
            if (!b.waiting.empty()) return;
            std::ofstream(dir / "best.txt") << "clock=" << clock << "\nepoch=" << b.epoch + 1
                                            << "\nval_loss=" << b.val_loss << "\n";
          },
          [=](caf::error& err) {
            auto& s = self->state;
            auto& b = s.best_round;
            const auto it = b.waiting.find(k);
            if (it == b.waiting.end() || it->second != ask) return;
            // A copy being replaced, or lost with its down message still on
            // the way (a dead proxy bounces the request): its successor is
            // asked (best_checkpoint_shard_replaced).
            if (s.replacing(k) || (!s.nodes.empty() && err.category() != troupe_error_category())) {
              spdlog::warn(
                  "best checkpoint at clock {} on shard {}: {}; its replacement will write it",
                  clock, k, describe(err));
              return;
            }
            // best.txt keeps naming the last complete set.
            b.waiting.clear();
            spdlog::warn("best checkpoint at clock {} failed on shard {}: {}", clock, k,
                         describe(err));
          });
}

}  // namespace

// keep_best: every shard checkpoints the best parameters so far into
// <output_dir>/best/ (the newest three kept); best.txt says which they are
// once every shard has written its part. The shards write the state the
// evaluation read (held since its pulls), not the one they have moved on to.
void checkpoint_best(scheduler_pointer self, std::int64_t clock, std::uint32_t epoch,
                     double val_loss, std::uint64_t held_round) {
  auto& st = self->state;
  const auto dir = std::filesystem::path(st.checkpoint_dir).parent_path() / "best";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  auto& b = st.best_round;
  b.waiting.clear();  // a round still under way is superseded by a better model
  b.clock = clock;
  b.epoch = epoch;
  b.val_loss = val_loss;
  b.held_round = held_round;
  for (std::uint32_t k = 0; k < st.shards.size(); ++k) ask_best_checkpoint(self, k);
}

void best_checkpoint_shard_replaced(scheduler_pointer self, std::uint32_t k) {
  // The lost copy will never answer; the new one holds the parameters the
  // job goes on from. A promoted backup holds the state the evaluation read
  // too (the primary passed each hold on in order with its pushes); a copy
  // restored from a checkpoint does not, and writes its current state.
  if (self->state.best_round.waiting.count(k)) ask_best_checkpoint(self, k);
}

}  // namespace troupe::scheduler_detail
