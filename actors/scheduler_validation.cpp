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

// keep_best: every shard checkpoints the best parameters so far into
// <output_dir>/best/ (the newest three kept); best.txt says which they are.
void checkpoint_best(scheduler_pointer self, std::int64_t clock, std::uint32_t epoch,
                     double val_loss) {
  auto& st = self->state;
  const auto dir = std::filesystem::path(st.checkpoint_dir).parent_path() / "best";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  auto pending = std::make_shared<std::size_t>(st.shards.size());
  for (auto& shard : st.shards) {
    self->request(shard, std::chrono::seconds(120), checkpoint_atom::value, dir.string(),
                  st.job.name, clock)
        .then(
            [=](const std::string&) {
              if (--*pending > 0) return;
              std::ofstream(dir / "best.txt") << "clock=" << clock << "\nepoch=" << epoch + 1
                                              << "\nval_loss=" << val_loss << "\n";
            },
            [=](caf::error& err) {
              spdlog::warn("best checkpoint at clock {} failed: {}", clock, describe(err));
            });
  }
}

}  // namespace troupe::scheduler_detail
