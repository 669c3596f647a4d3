// A model of your own, trained by Troupe: a small regression net written by
// hand against the public workload API (include/troupe/workload.hpp), with
// its parameters on Troupe's shards, under synchronous (staleness 0) and
// fully asynchronous (staleness inf) training.
//
// The data are synthetic and seeded, so the program is self-contained:
//   y = sin(2 x0) + x1^2 / 2 - x2 + g[group] + noise,
// with 3 numeric features and a categorical `group` (60 values) whose
// effect g is learnt as a sparse table of one-float rows, touched only for
// the groups a batch contains. The net: 3 -> 16 tanh -> 1, plus the group
// bias; squared error; the engine reports RMSE and MAE.
//
//   build/examples/custom_workload [OUTPUT_DIR]
//
// Exits 0 when both runs beat the mean predictor by far (RMSE < 0.5 x the
// test targets' standard deviation), 1 otherwise.
#include <troupe/workload.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr int kFeatures = 3, kGroups = 60;

struct sample {
  float x[kFeatures];
  std::uint64_t group;
  float y;
};

// The same rows in every instance (seeded): the last quarter is the test set.
std::vector<sample> make_data(std::size_t rows, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> x(0.f, 1.f), noise(0.f, 0.1f), effect(0.f, 1.f);
  std::uniform_int_distribution<std::uint64_t> group(0, kGroups - 1);
  std::vector<float> g(kGroups);
  for (auto& v : g) v = effect(rng);
  std::vector<sample> out(rows);
  for (auto& s : out) {
    for (auto& v : s.x) v = x(rng);
    s.group = group(rng);
    s.y = std::sin(2 * s.x[0]) + s.x[1] * s.x[1] / 2 - s.x[2] + g[s.group] + noise(rng);
  }
  return out;
}

class group_regression final : public troupe::custom_workload {
 public:
  enum table_index : std::size_t { w1, b1, w2, b2, group_bias };

  explicit group_regression(const troupe::workload_context& ctx)
      : ctx_(ctx),
        hidden_(static_cast<int>(ctx.number("hidden", 16))),
        data_(make_data(static_cast<std::size_t>(ctx.number("rows", 4000)), 7)) {
    const std::size_t train_rows = data_.size() * 3 / 4;
    if (ctx.evaluation) {
      for (std::size_t i = train_rows; i < data_.size(); ++i) mine_.push_back(i);
    } else {  // this worker's share of the training rows
      for (std::size_t i = ctx.part; i < train_rows; i += ctx.parts) mine_.push_back(i);
    }
  }

  std::vector<troupe::table> tables() const override {
    auto dense = [&](const char* name, std::uint64_t size, float bound) {
      auto t = troupe::table::dense(name, size).init(bound).with_seed(ctx_.seed);
      t.optimizer = ctx_.optimizer;  // [train] optimizer and learning_rate
      return t;
    };
    auto groups = troupe::table::sparse("group_bias", 1).max_row_id(kGroups);
    groups.optimizer = ctx_.optimizer;
    return {dense("w1", kFeatures * hidden_, 1.f / std::sqrt(float(kFeatures))),
            dense("b1", hidden_, 0.f), dense("w2", hidden_, 1.f / std::sqrt(float(hidden_))),
            dense("b2", 1, 0.f), groups};
  }
  bool regression() const override { return true; }

  void start_epoch(std::uint64_t epoch) override {
    std::mt19937_64 rng(ctx_.seed * 1000003 + epoch * 31 + ctx_.part);
    std::shuffle(mine_.begin(), mine_.end(), rng);
    cursor_ = 0;
  }

  std::size_t next_batch(troupe::row_request& need) override {
    batch_.clear();
    while (cursor_ < mine_.size() && batch_.size() < ctx_.batch) batch_.push_back(mine_[cursor_++]);
    for (auto i : batch_) need.add(group_bias, data_[i].group);
    return batch_.size();
  }

  troupe::step_stats step(const troupe::param_view& p, troupe::grad_buffers& g) override {
    troupe::step_stats s;
    const float scale = 2.f / static_cast<float>(batch_.size());  // d(mean squared error)
    std::vector<float> h(hidden_);
    for (auto i : batch_) {
      const auto& row = data_[i];
      const float err = predict(p, row, h) - row.y;
      s.loss_sum += double(err) * err;
      s.abs_err_sum += std::fabs(double(err));
      ++s.rows;
      const float d = scale * err;
      auto gw1 = g.dense(w1), gb1 = g.dense(b1), gw2 = g.dense(w2);
      const auto pw2 = p.dense(w2);
      g.dense(b2)[0] += d;
      g.row(group_bias, row.group)[0] += d;
      for (int j = 0; j < hidden_; ++j) {
        gw2[j] += d * h[j];
        const float dh = d * pw2[j] * (1 - h[j] * h[j]);  // through tanh
        gb1[j] += dh;
        for (int f = 0; f < kFeatures; ++f) gw1[f * hidden_ + j] += dh * row.x[f];
      }
    }
    return s;
  }

  void prepare_eval(troupe::row_request& need) override {
    for (auto i : mine_) need.add(group_bias, data_[i].group);
  }

  troupe::step_stats evaluate(const troupe::param_view& p) override {
    troupe::step_stats s;
    std::vector<float> h(hidden_);
    for (auto i : mine_) {
      const float err = predict(p, data_[i], h) - data_[i].y;
      s.loss_sum += double(err) * err;
      s.abs_err_sum += std::fabs(double(err));
      ++s.rows;
    }
    return s;
  }

 private:
  float predict(const troupe::param_view& p, const sample& row, std::vector<float>& h) const {
    const auto pw1 = p.dense(w1), pb1 = p.dense(b1), pw2 = p.dense(w2);
    float y = p.dense(b2)[0] + p.row(group_bias, row.group)[0];
    for (int j = 0; j < hidden_; ++j) {
      float z = pb1[j];
      for (int f = 0; f < kFeatures; ++f) z += row.x[f] * pw1[f * hidden_ + j];
      h[j] = std::tanh(z);
      y += h[j] * pw2[j];
    }
    return y;
  }

  troupe::workload_context ctx_;
  int hidden_;
  std::vector<sample> data_;
  std::vector<std::size_t> mine_, batch_;
  std::size_t cursor_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
    std::fprintf(stderr, "usage: %s [OUTPUT_DIR]  (default runs/custom_workload)\n", argv[0]);
    return argc == 2 && std::string(argv[1]) == "--help" ? 0 : 2;
  }
  const std::string out = argc > 1 ? argv[1] : "runs/custom_workload";
  auto registered = troupe::register_workload(
      "group_regression", [](const auto& ctx) { return std::make_unique<group_regression>(ctx); });
  if (!registered) return std::fprintf(stderr, "%s\n", registered.error().to_string().c_str()), 1;

  const std::string job = R"(
[job]
name = "group_regression"
epochs = 12
log_every = 1000
[model]
kind = "group_regression"
[params]
rows = 4000
hidden = 16
[train]
workers = 2
shards = 2
batch = 32
optimizer = "adam"
learning_rate = 0.02
)";
  // The test targets' spread: the RMSE of always predicting their mean.
  const auto data = make_data(4000, 7);
  double mean = 0, var = 0;
  for (std::size_t i = 3000; i < data.size(); ++i) mean += data[i].y / 1000.0;
  for (std::size_t i = 3000; i < data.size(); ++i) var += (data[i].y - mean) * (data[i].y - mean);
  const double sd = std::sqrt(var / 1000.0);

  bool ok = true;
  for (const char* staleness : {"0", "inf"}) {
    auto s = troupe::train(troupe::job_spec::toml(job)
                               .set("train.staleness", staleness)
                               .set("job.output_dir", "\"" + out + "/s" + staleness + "\""));
    if (!s) return std::fprintf(stderr, "%s\n", s.error().to_string().c_str()), 1;
    std::printf("staleness %-3s: test RMSE %.3f, MAE %.3f (mean predictor: %.3f)\n", staleness,
                s->test_loss, s->test_mae, sd);
    ok = ok && s->regression && s->test_loss < 0.5 * sd;
  }
  return ok ? 0 : 1;
}
