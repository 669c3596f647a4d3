// A custom workload registered from outside the engine, through the public
// header only: it trains under staleness 0 and inf with the engine's shards
// and workers, and its mistakes (bad tables, rows it did not ask for, a
// taken name) are errors, not crashes.
#include <gtest/gtest.h>
#include <troupe/workload.hpp>

#include <cmath>
#include <filesystem>
#include <random>

namespace {

// y = 2 x0 - 3 x1 + offset[id % 8]: a dense weight pair and a sparse offset
// table, fitted by least squares.
class linear_with_offsets : public troupe::custom_workload {
 public:
  explicit linear_with_offsets(const troupe::workload_context& ctx) : ctx_(ctx) {
    std::mt19937 rng(11);
    std::normal_distribution<float> x(0.f, 1.f);
    for (int i = 0; i < 1200; ++i) {
      const float a = x(rng), b = x(rng);
      const auto id = static_cast<std::uint64_t>(i % 8);
      rows_.push_back({a, b, id, 2 * a - 3 * b + 0.5f * static_cast<float>(id)});
    }
    for (std::size_t i = 0; i < rows_.size(); ++i) {
      const bool test = i % 5 == 0;
      if (ctx.evaluation ? test : (!test && i % ctx.parts == ctx.part)) mine_.push_back(i);
    }
  }
  std::vector<troupe::table> tables() const override {
    auto w = troupe::table::dense("w", 2);
    auto offsets = troupe::table::sparse("offsets", 1);
    w.optimizer = offsets.optimizer = ctx_.optimizer;
    return {w, offsets};
  }
  bool regression() const override { return true; }
  void start_epoch(std::uint64_t) override { cursor_ = 0; }
  std::size_t next_batch(troupe::row_request& need) override {
    batch_.clear();
    while (cursor_ < mine_.size() && batch_.size() < ctx_.batch) batch_.push_back(mine_[cursor_++]);
    for (auto i : batch_) need.add(1, rows_[i].id);
    return batch_.size();
  }
  troupe::step_stats step(const troupe::param_view& p, troupe::grad_buffers& g) override {
    troupe::step_stats s;
    for (auto i : batch_) {
      const auto& r = rows_[i];
      const float err = p.dense(0)[0] * r.a + p.dense(0)[1] * r.b + p.row(1, r.id)[0] - r.y;
      const float d = 2 * err / static_cast<float>(batch_.size());
      g.dense(0)[0] += d * r.a;
      g.dense(0)[1] += d * r.b;
      g.row(1, r.id)[0] += d;
      s.loss_sum += double(err) * err;
      s.abs_err_sum += std::fabs(err);
      ++s.rows;
    }
    return s;
  }
  void prepare_eval(troupe::row_request& need) override {
    for (auto i : mine_) need.add(1, rows_[i].id);
  }
  troupe::step_stats evaluate(const troupe::param_view& p) override {
    troupe::step_stats s;
    for (auto i : mine_) {
      const auto& r = rows_[i];
      const float err = p.dense(0)[0] * r.a + p.dense(0)[1] * r.b + p.row(1, r.id)[0] - r.y;
      s.loss_sum += double(err) * err;
      s.abs_err_sum += std::fabs(err);
      ++s.rows;
    }
    return s;
  }

 protected:
  struct row {
    float a, b;
    std::uint64_t id;
    float y;
  };
  troupe::workload_context ctx_;
  std::vector<row> rows_;
  std::vector<std::size_t> mine_, batch_;
  std::size_t cursor_ = 0;
};

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
  auto unknown = troupe::train(troupe::job_spec::toml(job_text("never_registered", "0")));
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("unknown model 'never_registered'"), std::string::npos);
}

}  // namespace
