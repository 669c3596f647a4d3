// A custom workload registered from outside the engine, through the public
// header only: it trains under staleness 0 and inf with the engine's shards
// and workers, and its mistakes (bad tables, rows it did not ask for, a
// taken name) are errors, not crashes.
#include <gtest/gtest.h>
#include <troupe/workload.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "linear_workload.hpp"

namespace {

using troupe::test_support::linear_with_offsets;

// Reads a row its batch never asked for.
class greedy : public linear_with_offsets {
 public:
  using linear_with_offsets::linear_with_offsets;
  troupe::step_stats step(const troupe::param_view& p, troupe::grad_buffers&) override {
    (void)p.row(1, 999);
    return {};
  }
};

class no_tables : public linear_with_offsets {
 public:
  using linear_with_offsets::linear_with_offsets;
  std::vector<troupe::table> tables() const override {
    return {troupe::table::dense("w", 0)};  // a dense table of no floats
  }
};

// Its first batch asks for no sparse row (and its step reads none): the
// offsets must still be pulled and pushed for every later batch.
class rowless_first_batch : public linear_with_offsets {
 public:
  using linear_with_offsets::linear_with_offsets;
  std::size_t next_batch(troupe::row_request& need) override {
    troupe::row_request ignored;
    const auto n = linear_with_offsets::next_batch(first_ ? ignored : need);
    return n;
  }
  troupe::step_stats step(const troupe::param_view& p, troupe::grad_buffers& g) override {
    if (!first_) return linear_with_offsets::step(p, g);
    first_ = false;
    troupe::step_stats s;
    s.rows = 1;
    return s;
  }

 private:
  bool first_ = true;
};

// Statistics no result can be made of.
class scores_nothing : public linear_with_offsets {
 public:
  using linear_with_offsets::linear_with_offsets;
  troupe::step_stats evaluate(const troupe::param_view&) override { return {}; }
};
class nan_loss : public linear_with_offsets {
 public:
  using linear_with_offsets::linear_with_offsets;
  troupe::step_stats step(const troupe::param_view& p, troupe::grad_buffers& g) override {
    auto s = linear_with_offsets::step(p, g);
    s.loss_sum = std::nan("");
    return s;
  }
};

// Trains as usual but says it trained on no rows (a forgotten `rows = n`).
class trains_on_nothing : public linear_with_offsets {
 public:
  using linear_with_offsets::linear_with_offsets;
  troupe::step_stats step(const troupe::param_view& p, troupe::grad_buffers& g) override {
    auto s = linear_with_offsets::step(p, g);
    s.rows = 0;
    return s;
  }
};

// A finite loss, but from its 6th step a NaN in the gradient of w[1] only,
// whose shard (of 2) is not w[0]'s.
class nan_gradient : public linear_with_offsets {
 public:
  using linear_with_offsets::linear_with_offsets;
  troupe::step_stats step(const troupe::param_view& p, troupe::grad_buffers& g) override {
    auto s = linear_with_offsets::step(p, g);
    if (++steps_ > 5) g.dense(0)[1] = std::nanf("");
    return s;
  }

 private:
  int steps_ = 0;
};

// A dense table of 2^31 floats (8 GiB): every worker holds it whole.
class huge_dense : public linear_with_offsets {
 public:
  using linear_with_offsets::linear_with_offsets;
  std::vector<troupe::table> tables() const override {
    auto t = linear_with_offsets::tables();
    t[0].size = std::uint64_t{1} << 31;
    return t;
  }
};

// The training instance of partition 1 cannot be made.
class second_fails : public linear_with_offsets {
 public:
  explicit second_fails(const troupe::workload_context& ctx) : linear_with_offsets(ctx) {
    if (!ctx.evaluation && ctx.part == 1) throw std::runtime_error("no data for part 1");
  }
};

// Its training instances size a table from their own part: part 1's `w`
// has 4 floats where the instance the shards were placed from has 2.
class tables_by_part : public linear_with_offsets {
 public:
  explicit tables_by_part(const troupe::workload_context& ctx)
      : linear_with_offsets(ctx), wide_(!ctx.evaluation && ctx.part == 1) {}
  std::vector<troupe::table> tables() const override {
    auto t = linear_with_offsets::tables();
    if (wide_) t[0] = troupe::table::dense("w", 4);
    return t;
  }

 private:
  bool wide_;
};

// 600 scalar tables, one per group of rows: y = 1 + k / 100 for the rows of
// table k. A step pushes and pulls every table, ~1,200 requests a worker,
// beyond the worker's bound on requests in flight (actors/request_gate.hpp),
// so most of them wait for room: every push must still reach its shard in
// order (shards refuse gaps) and every table must train.
class many_scalars final : public troupe::custom_workload {
 public:
  static constexpr std::size_t tables_n = 600, rows_n = 1200;
  explicit many_scalars(const troupe::workload_context& ctx) : ctx_(ctx) {
    for (std::size_t i = 0; i < rows_n; ++i) {
      if (ctx.evaluation || i % ctx.parts == ctx.part) mine_.push_back(i);
    }
  }
  std::vector<troupe::table> tables() const override {
    std::vector<troupe::table> t;
    for (std::size_t k = 0; k < tables_n; ++k) {
      auto c = troupe::table::dense("c" + std::to_string(k), 1);
      c.optimizer = ctx_.optimizer;
      t.push_back(c);
    }
    return t;
  }
  bool regression() const override { return true; }
  void start_epoch(std::uint64_t) override { cursor_ = 0; }
  std::size_t next_batch(troupe::row_request&) override {
    batch_.clear();
    while (cursor_ < mine_.size() && batch_.size() < ctx_.batch) batch_.push_back(mine_[cursor_++]);
    return batch_.size();
  }
  troupe::step_stats step(const troupe::param_view& p, troupe::grad_buffers& g) override {
    return score(p, &g, batch_);
  }
  troupe::step_stats evaluate(const troupe::param_view& p) override {
    return score(p, nullptr, mine_);
  }

 private:
  static float target(std::size_t k) { return 1.0f + static_cast<float>(k) / 100.0f; }
  troupe::step_stats score(const troupe::param_view& p, troupe::grad_buffers* g,
                           const std::vector<std::size_t>& rows) const {
    troupe::step_stats s;
    for (auto i : rows) {
      const auto k = i % tables_n;
      const float err = p.dense(k)[0] - target(k);
      if (g != nullptr) g->dense(k)[0] += err;  // each update halves the error at lr 0.5
      s.loss_sum += double(err) * err;
      s.abs_err_sum += std::fabs(err);
      ++s.rows;
    }
    return s;
  }

  troupe::workload_context ctx_;
  std::vector<std::size_t> mine_, batch_;
  std::size_t cursor_ = 0;
};

// A model whose one parameter counts the steps applied: each step's
// gradient is -1, so at learning rate 1 plain SGD adds exactly 1, and an
// evaluation's RMSE is the parameter itself, i.e. the steps its snapshot
// holds. Steps take ~1 ms and evaluations 30 ms, so evaluations fall behind.
class step_counter : public troupe::custom_workload {
 public:
  explicit step_counter(const troupe::workload_context& ctx) : ctx_(ctx) {}
  std::vector<troupe::table> tables() const override {
    auto w = troupe::table::dense("w", 1).init(0.0f);
    w.optimizer = ctx_.optimizer;
    return {w};
  }
  bool regression() const override { return true; }
  void start_epoch(std::uint64_t) override { left_ = 100; }
  std::size_t next_batch(troupe::row_request&) override { return left_ > 0 ? (left_--, 1) : 0; }
  troupe::step_stats step(const troupe::param_view&, troupe::grad_buffers& g) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    g.dense(0)[0] = -1.0f;
    troupe::step_stats s;
    s.rows = 1;
    return s;
  }
  troupe::step_stats evaluate(const troupe::param_view& p) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    const double w = p.dense(0)[0];
    troupe::step_stats s;
    s.loss_sum = w * w;  // RMSE = |w|
    s.abs_err_sum = std::fabs(w);
    s.rows = 1;
    return s;
  }

 private:
  troupe::workload_context ctx_;
  std::size_t left_ = 0;
};

std::string job_text(const std::string& kind, const std::string& staleness) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("troupe_custom_" + kind + (staleness == "0" ? "_s0" : "_s"));
  return "[job]\nepochs = 15\nlog_every = 1000\noutput_dir = \"" + dir.string() +
         "\"\n[model]\nkind = \"" + kind + "\"\n[train]\nworkers = 2\nshards = 2\nbatch = 16\n" +
         "staleness = " + staleness + "\noptimizer = \"sgd\"\nlearning_rate = 0.05\n";
}

template <class W>
void register_once(const std::string& name) {
  static bool done = [&] {
    auto r = troupe::register_workload(
        name, [](const troupe::workload_context& ctx) { return std::make_unique<W>(ctx); });
    EXPECT_TRUE(r) << r.error().to_string();
    return true;
  }();
  (void)done;
}

TEST(CustomWorkload, TrainsSynchronouslyAndAsynchronously) {
  register_once<linear_with_offsets>("linear_offsets");
  for (const char* staleness : {"0", "\"inf\""}) {
    auto s = troupe::train(troupe::job_spec::toml(job_text("linear_offsets", staleness)));
    ASSERT_TRUE(s) << s.error().to_string();
    EXPECT_TRUE(s->regression);
    // The targets' spread is ~3.7; an exact fit leaves nothing.
    EXPECT_LT(s->test_loss, 0.05) << s->line;
    EXPECT_LE(s->test_mae, s->test_loss * 1.01) << s->line;
    EXPECT_NE(s->line.find("test_rmse="), std::string::npos) << s->line;
  }
}

// Each row of metrics.csv carries the clock of the parameters it scored.
// Labelled with the clock at which it was asked, an evaluation queued behind
// a slow one scored a model tens of steps later than its label said (on a
// fast job, the final model under the clocks of early steps), and a sweep
// drew its conclusions from those labels. The step counter makes the
// scored clock visible: a row's RMSE is the steps its snapshot holds.
// The step counter trained for 2 epochs of 100 steps, one worker, lock-step,
// with `job_keys` added to [job]; its metrics.csv rows of `kind` (fields).
struct counted_run {
  troupe::result<troupe::train_summary> summary;
  std::vector<std::vector<std::string>> rows;
};
counted_run run_step_counter(const std::string& name, const std::string& job_keys,
                             const std::string& kind) {
  register_once<step_counter>("step_counter");
  const auto dir = std::filesystem::temp_directory_path() / name;
  counted_run out{troupe::train(troupe::job_spec::toml(
                      "[job]\nepochs = 2\n" + job_keys + "output_dir = \"" + dir.string() +
                      "\"\n[model]\nkind = \"step_counter\"\n[train]\nworkers = 1\nshards = "
                      "1\nbatch = 1\nstaleness = 0\noptimizer = \"sgd\"\nlearning_rate = 1.0\n")),
                  {}};
  std::ifstream in(dir / "metrics.csv");
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    if (f.size() >= 8 && f[4] == kind) out.rows.push_back(std::move(f));
  }
  return out;
}

TEST(CustomWorkload, EachEvaluationRowCarriesTheClockItScored) {
  const auto run =
      run_step_counter("troupe_custom_step_counter", "eval_every = 1\nlog_every = 1000\n", "test");
  ASSERT_TRUE(run.summary) << run.summary.error().to_string();
  for (const auto& f : run.rows) {
    const double clock = std::stod(f[3]), scored = std::stod(f[5]);
    // The label is the slowest clock the scheduler knew when the pulls
    // were answered: a few steps either way, never tens.
    EXPECT_NEAR(scored, clock, 8.0) << f[0] << "," << f[3] << "," << f[5];
  }
  EXPECT_GE(run.rows.size(), 4u);
  // every step applied once
  EXPECT_NEAR(run.summary->test_loss, 200.0, 1e-3) << run.summary->line;
}

// A worker's last steps reported at a multiple of log_every left nothing
// for its final report, which still wrote a train row of zeros (loss 0,
// 0 samples/s): a plot of the training loss dropped to 0 at the end.
TEST(CustomWorkload, EveryTrainRowHasSamples) {
  const auto run = run_step_counter("troupe_custom_train_rows", "log_every = 50\n", "train");
  ASSERT_TRUE(run.summary) << run.summary.error().to_string();
  for (const auto& f : run.rows) EXPECT_GT(std::stod(f[7]), 0.0) << f[0] << ", clock " << f[3];
  EXPECT_EQ(run.rows.size(), 4u) << "200 steps, a row every 50";
}

TEST(CustomWorkload, AStepOfMoreRequestsThanTheWorkerKeepsInFlightTrainsEveryTable) {
  register_once<many_scalars>("many_scalars");
  for (const char* staleness : {"0", "\"inf\""}) {
    auto job = troupe::job_spec::toml(job_text("many_scalars", staleness))
                   .set("job.epochs", "5")
                   .set("train.learning_rate", "0.5");
    auto s = troupe::train(job);
    ASSERT_TRUE(s) << s.error().to_string();
    // Targets spread over 1..7: a table left untrained would leave an RMSE near 1.
    EXPECT_LT(s->test_loss, 0.01) << s->line;
    EXPECT_NE(s->line.find("pushes_rejected=0 "), std::string::npos) << s->line;
  }
}

TEST(CustomWorkload, AFirstBatchWithoutRowsDoesNotFixTheExchange) {
  register_once<rowless_first_batch>("rowless_first_batch");
  auto s = troupe::train(troupe::job_spec::toml(job_text("rowless_first_batch", "0")));
  ASSERT_TRUE(s) << s.error().to_string();
  EXPECT_LT(s->test_loss, 0.05) << s->line;  // the offsets were trained too
}

// A model that brings its own data is named after itself: [data]'s default
// set, which it never reads, named it "linear_offsets_fashion-mnist", and
// its job wrote into runs/ under that name.
TEST(CustomWorkload, AJobOfAModelWithItsOwnDataIsNamedAfterTheModel) {
  register_once<linear_with_offsets>("linear_offsets");
  const auto dir = std::filesystem::temp_directory_path() / "troupe_custom_named";
  std::filesystem::create_directories(dir);
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir);
  auto s = troupe::train(troupe::job_spec::toml("[model]\nkind = \"linear_offsets\"\n[train]\n"
                                                "workers = 1\nshards = 1\n")
                             .set("job.epochs", "1"));
  std::filesystem::current_path(cwd);
  ASSERT_TRUE(s) << s.error().to_string();
  EXPECT_TRUE(std::filesystem::exists(dir / "runs" / "linear_offsets" / "summary.txt"));
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST(CustomWorkload, StatisticsThatAreNoResultAreErrors) {
  register_once<scores_nothing>("scores_nothing");
  register_once<nan_loss>("nan_loss");
  auto none = troupe::train(troupe::job_spec::toml(job_text("scores_nothing", "0")));
  ASSERT_FALSE(none) << none->line;  // was reported as RMSE 0
  EXPECT_NE(none.error().message.find("workload 'scores_nothing': evaluate() scored no rows"),
            std::string::npos)
      << none.error().to_string();
  auto nan = troupe::train(troupe::job_spec::toml(job_text("nan_loss", "0")));
  ASSERT_FALSE(nan) << nan->line;
  EXPECT_NE(nan.error().message.find("workload 'nan_loss': step() returned loss_sum nan"),
            std::string::npos)
      << nan.error().to_string();
  // No rows of a batch of 16: it trained to the end with loss 0 and 0 samples/s.
  register_once<trains_on_nothing>("trains_on_nothing");
  auto nothing = troupe::train(troupe::job_spec::toml(job_text("trains_on_nothing", "0")));
  ASSERT_FALSE(nothing) << nothing->line;
  EXPECT_NE(nothing.error().message.find(
                "workload 'trains_on_nothing': step() returned 0 rows of a batch of 16"),
            std::string::npos)
      << nothing.error().to_string();
}

// A step whose gradient holds a NaN is refused whole by its worker before
// any of its pushes leaves: no shard applies its part alone (before, the
// shard holding w[1] refused its push while w[0]'s and the offsets' shards
// applied theirs).
TEST(CustomWorkload, AStepWithANanGradientIsRefusedWholeByItsWorker) {
  register_once<nan_gradient>("nan_gradient");
  auto s = troupe::train(troupe::job_spec::toml(job_text("nan_gradient", "0")));
  ASSERT_FALSE(s) << s->line;
  const auto& why = s.error().message;
  EXPECT_NE(why.find("the gradient holds nan at key 1 of table 'w'; nothing of this step was "
                     "pushed"),
            std::string::npos)
      << why;
  EXPECT_EQ(why.find("rejected"), std::string::npos) << why;  // no shard saw it
}

// The failure names the worker whose workload could not be made (it was
// reported as worker 0's, or only as a worker gone down).
TEST(CustomWorkload, AWorkloadThatCannotBeMadeNamesItsWorker) {
  register_once<second_fails>("second_fails");
  auto s = troupe::train(troupe::job_spec::toml(job_text("second_fails", "0")));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("worker 1: error: "), std::string::npos)
      << s.error().to_string();
  // Named by the workload too, as its other faults are.
  EXPECT_NE(s.error().message.find("workload 'second_fails': no data for part 1"),
            std::string::npos)
      << s.error().to_string();
}

// An instance whose tables differ from the placed ones trained part of a
// table with one shard and failed on a pull with two, naming neither.
TEST(CustomWorkload, AnInstanceWithOtherTablesThanThePlacedOnesNamesIt) {
  register_once<tables_by_part>("tables_by_part");
  auto s = troupe::train(troupe::job_spec::toml(job_text("tables_by_part", "0")));
  ASSERT_FALSE(s);
  EXPECT_NE(
      s.error().message.find("the instance of part 1 of 2 returns other tables than the "
                             "instance that placed them (dense 'w' of 4, not dense 'w' of 2)"),
      std::string::npos)
      << s.error().to_string();
}

// The memory check counts each worker's copy of a custom model's dense
// tables (they were left out: an 8 GiB table passed the check, then the
// machine thrashed), so the job is refused before anything is allocated.
TEST(CustomWorkload, DenseTablesEveryWorkerHoldsAreCountedBeforeTheJobStarts) {
  register_once<huge_dense>("huge_dense");
  // Shards enough that each part fits a message (checked first, whatever
  // the machine): what is left to refuse is the memory.
  auto s =
      troupe::train(troupe::job_spec::toml(job_text("huge_dense", "0")).set("train.shards", "32"));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, troupe::api_errc::bad_argument) << s.error().to_string();
  EXPECT_NE(s.error().message.find("of memory"), std::string::npos) << s.error().to_string();
}

TEST(CustomWorkload, OverridesReachTheJob) {
  register_once<linear_with_offsets>("linear_offsets");
  auto s = troupe::train(troupe::job_spec::toml(job_text("linear_offsets", "2"))
                             .set("job.epochs", "1")
                             .set("train.learning_rate", "0.0001"));
  ASSERT_TRUE(s) << s.error().to_string();
  EXPECT_EQ(s->epochs, 1u);
  EXPECT_GT(s->test_loss, 1.0);  // one epoch at a tiny rate: far from fitted
  auto bad = troupe::train(
      troupe::job_spec::toml(job_text("linear_offsets", "2")).set("train.learning_rate", "-1"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, troupe::api_errc::bad_argument);
  EXPECT_NE(bad.error().message.find("train.learning_rate"), std::string::npos);
}

TEST(CustomWorkload, MistakesAreErrorsNotCrashes) {
  register_once<greedy>("greedy");
  register_once<no_tables>("no_tables");
  auto s = troupe::train(troupe::job_spec::toml(job_text("greedy", "0")));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("row 999 of table 'offsets' was not asked for"),
            std::string::npos)
      << s.error().to_string();
  s = troupe::train(troupe::job_spec::toml(job_text("no_tables", "0")));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, troupe::api_errc::bad_argument);
  EXPECT_NE(s.error().message.find("table 'w': size must be"), std::string::npos)
      << s.error().to_string();
  // Names are unique, the built-in ones included.
  const auto factory = [](const troupe::workload_context& ctx) {
    return std::make_unique<linear_with_offsets>(ctx);
  };
  EXPECT_FALSE(troupe::register_workload("mlp", factory));
  EXPECT_FALSE(troupe::register_workload("", factory));
  EXPECT_FALSE(troupe::register_workload("x", nullptr));
  // A factory that throws what no one expects is an error too, not an abort.
  static const bool thrower =
      troupe::register_workload(
          "throws_42",
          [](const troupe::workload_context&) -> std::unique_ptr<troupe::custom_workload> {
            throw 42;
          })
          .ok();
  ASSERT_TRUE(thrower);
  auto threw = troupe::train(troupe::job_spec::toml(job_text("throws_42", "0")));
  ASSERT_FALSE(threw);
  EXPECT_EQ(threw.error().code, troupe::api_errc::internal);
  auto unknown = troupe::train(troupe::job_spec::toml(job_text("never_registered", "0")));
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("unknown model 'never_registered'"), std::string::npos);
  // The job's overrides are applied before it is checked, as `troupe train
  // --set` does: a file's kind that an override replaces is no error.
  register_once<linear_with_offsets>("linear_offsets");
  auto replaced = troupe::train(troupe::job_spec::toml(job_text("never_registered", "0"))
                                    .set("model.kind", "linear_offsets")
                                    .set("job.epochs", "1"));
  EXPECT_TRUE(replaced) << replaced.error().to_string();
}

// A plugin built from the public headers alone adds its kinds to this
// process; bad files are clear errors.
TEST(WorkloadPlugin, KindsOfAPluginTrainAndBadPluginsAreClearErrors) {
  auto loaded = troupe::load_workload_plugin(TROUPE_TEST_PLUGIN);
  ASSERT_TRUE(loaded) << loaded.error().to_string();
  auto s = troupe::train(troupe::job_spec::toml(job_text("plugin_linear", "0")));
  ASSERT_TRUE(s) << s.error().to_string();
  EXPECT_LT(s->test_loss, 0.05) << s->line;
  // Loading it again would register its kind twice.
  auto again = troupe::load_workload_plugin(TROUPE_TEST_PLUGIN);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, troupe::api_errc::bad_argument);
  EXPECT_NE(again.error().message.find("plugin_linear"), std::string::npos)
      << again.error().to_string();
  auto missing = troupe::load_workload_plugin("/nonexistent/libnothing.so");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("cannot load workload plugin /nonexistent/libnothing.so"),
            std::string::npos)
      << missing.error().to_string();
  // A plugin that adds a kind and then throws leaves no kind behind: the
  // name stays free for a copy that works.
  auto half = troupe::load_workload_plugin(TROUPE_FAILING_PLUGIN);
  ASSERT_FALSE(half);
  EXPECT_NE(half.error().message.find("no licence for the second kind"), std::string::npos)
      << half.error().to_string();
  auto never = troupe::train(troupe::job_spec::toml(job_text("half_registered_linear", "0")));
  ASSERT_FALSE(never);
  EXPECT_NE(never.error().message.find("unknown model 'half_registered_linear'"), std::string::npos)
      << never.error().to_string();
  EXPECT_TRUE(
      troupe::register_workload("half_registered_linear", [](const troupe::workload_context& ctx) {
        return std::make_unique<troupe::test_support::linear_with_offsets>(ctx);
      }));
  // One built against other headers (another Troupe version) is refused
  // before any of its code runs (such a plugin crashed the process, a node
  // daemon with every job on it, at its first call across).
  auto mismatched = troupe::load_workload_plugin(TROUPE_MISMATCHED_PLUGIN);
  ASSERT_FALSE(mismatched);
  EXPECT_NE(
      mismatched.error().message.find("was built against other Troupe headers (plugin interface " +
                                      std::to_string(troupe::plugin_host::interface_version + 1)),
      std::string::npos)
      << mismatched.error().to_string();
  EXPECT_NE(mismatched.error().message.find("rebuild it against this installation's"),
            std::string::npos)
      << mismatched.error().to_string();
  auto none = troupe::train(troupe::job_spec::toml(job_text("from_other_headers", "0")));
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("unknown model 'from_other_headers'"), std::string::npos)
      << none.error().to_string();
  // A shared library that is not a plugin (zlib's, from the base system).
  for (const char* lib : {"libz.so.1"}) {
    auto other = troupe::load_workload_plugin(lib);
    ASSERT_FALSE(other);
    EXPECT_NE(other.error().message.find("is not a workload plugin"), std::string::npos)
        << other.error().to_string();
  }
}

}  // namespace
