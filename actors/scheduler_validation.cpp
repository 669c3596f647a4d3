// The scheduler's model selection on a validation set (see
// scheduler_state.hpp): how evaluations are reported, early stopping, and
// the best parameters kept in <output_dir>/best/.
#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "actors/actor_config.hpp"
#include "actors/scheduler_state.hpp"
#include "engine/shared_dir.hpp"

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
            // The test metrics too: a resumed job reports this model's.
            std::ofstream out(dir / "best.txt");
            out.precision(17);
            out << "clock=" << clock << "\nepoch=" << b.epoch + 1 << "\nval_loss=" << b.val_loss
                << "\ntest_accuracy=" << b.test_accuracy << "\ntest_loss=" << b.test_loss
                << "\ntest_mae=" << b.test_mae << "\n";
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
  // The nodes write into it, as a user of their own on a shared directory.
  if (auto made = make_shared_dir(dir.string()); !made) {
    spdlog::warn("keep_best: {}", made.message());
  }
  auto& b = st.best_round;
  b.waiting.clear();  // a round still under way is superseded by a better model
  b.clock = clock;
  b.epoch = epoch;
  b.val_loss = val_loss;
  b.test_accuracy = st.best.accuracy;
  b.test_loss = st.best.loss;
  b.test_mae = st.best.mae;
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

namespace {

// best/best.txt of keep_best, as written above ("key=value" lines); nothing
// when it is missing or unreadable.
std::map<std::string, std::string> read_best_file(const std::filesystem::path& path) {
  std::map<std::string, std::string> kv;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec) || std::filesystem::file_size(path, ec) > 4096) {
    return kv;
  }
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return kv;
}

bool number_of(const std::map<std::string, std::string>& kv, const char* key, double& out) {
  const auto it = kv.find(key);
  if (it == kv.end()) return false;
  std::istringstream in(it->second);
  return static_cast<bool>(in >> out) && in.peek() == EOF;
}

}  // namespace

// The interrupted run's evaluations of the epochs the resumed one does not
// train again, replayed as they were recorded: a target reached there stays
// reached (at its time), early stopping counts on from them, and the best
// model stays the one to beat (resumed, a job reported a worse epoch as its
// best and overwrote best/ with it). Only the model best/ holds may have
// come from an epoch trained again: with keep_best it is the one reported
// while nothing better comes.
void restore_history(scheduler_pointer self) {
  auto& st = self->state;
  if (!st.resume) return;
  const auto& h = st.resume->history;
  st.time_offset_s = h.time_offset_s;
  const metrics_row* test = nullptr;
  for (const auto& row : h.evaluations) {
    if (row.kind == "test") {
      test = &row;
      const bool reached = st.job.target_metric == "loss" ? row.loss <= st.job.target_loss
                                                          : row.accuracy >= st.job.target_accuracy;
      if (st.summary.time_to_target_s < 0 && reached) {
        st.summary.time_to_target_s = row.time_s;
        st.summary.epoch_of_target = static_cast<std::int32_t>(row.epoch + 1);
        st.summary.target_clock = row.clock;
      }
    } else if (row.kind == "validation") {
      const auto v = st.validation.record(row.loss, row.epoch + 1, row.clock);
      if (v.improved) {
        st.best = eval_result{};
        const bool paired = test && test->epoch == row.epoch && test->clock == row.clock;
        st.best.accuracy = paired ? test->accuracy : 0;
        st.best.loss = paired ? test->loss : std::numeric_limits<double>::quiet_NaN();
        // metrics.csv has no MAE column: best.txt gives it below.
        st.best.mae = st.regression ? std::numeric_limits<double>::quiet_NaN() : 0;
      }
    }
  }
  st.validation.rearm();
  if (!st.job.keep_best) return;
  const auto kv =
      read_best_file(std::filesystem::path(st.checkpoint_dir).parent_path() / "best" / "best.txt");
  double clock = 0, epoch = 0, val_loss = 0, acc = 0, loss = 0, mae = 0;
  if (!number_of(kv, "clock", clock) || !number_of(kv, "epoch", epoch) ||
      !number_of(kv, "val_loss", val_loss) || !std::isfinite(val_loss) || epoch < 1) {
    return;
  }
  const bool same = st.validation.has_best() && st.validation.best_clock() == clock &&
                    st.validation.best_epoch() == epoch;
  const bool better = !st.validation.has_best() || val_loss < st.validation.best_loss();
  if (!same && !better) return;  // best/ is to be replaced by the next improvement
  // Also the same model: best.txt has its loss to more digits than metrics.csv.
  st.validation.adopt_best(val_loss, static_cast<std::uint32_t>(epoch),
                           static_cast<std::int64_t>(clock));
  if (number_of(kv, "test_accuracy", acc) && number_of(kv, "test_loss", loss) &&
      number_of(kv, "test_mae", mae)) {
    st.best = eval_result{};
    st.best.accuracy = acc;
    st.best.loss = loss;
    st.best.mae = mae;
  }
}

}  // namespace troupe::scheduler_detail
