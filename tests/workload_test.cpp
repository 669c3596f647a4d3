// Workloads and exchange plans: the sparse logistic regression's gradient
// against finite differences, and a full pull -> step -> push round trip
// through real shard stores with the plans the workers use.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine/store/shard_store.hpp"
#include "engine/wire/exchange_plan.hpp"
#include "engine/workloads/logreg_workload.hpp"

namespace troupe {
namespace {

std::shared_ptr<const sparse_dataset> tiny_sparse_set() {
  auto d = std::make_shared<sparse_dataset>();
  d->features = 50;
  std::mt19937 rng(3);
  for (int r = 0; r < 40; ++r) {
    std::vector<std::uint32_t> cols;
    for (std::uint32_t c = 0; c < 50; ++c) {
      if (rng() % 5 == 0) cols.push_back(c);
    }
    d->push_binary_row(cols, static_cast<std::int32_t>(rng() % 2));
  }
  return d;
}

// Serves a workload from shard stores the way worker actors do.
struct mini_cluster {
  explicit mini_cluster(const std::vector<table_spec>& tables, std::uint32_t shards) {
    for (std::uint32_t k = 0; k < shards; ++k) {
      stores.emplace_back(k);
      for (const auto& t : tables) {
        if (t.kind == table_kind::sparse) {
          stores.back().add_sparse(t, shards);
        } else {
          stores.back().add_dense(t, dense_ranges(t.size, shards)[k]);
        }
      }
    }
  }
  void pull(workload& wl, const std::vector<exchange_op>& ops) {
    for (const auto& op : ops) {
      pull_request_view req;
      ASSERT_TRUE(decode_pull_request(encode_pull(op, 0), req).ok());
      bytes reply;
      ASSERT_TRUE(stores[op.shard].read_pull(req, reply).ok());
      std::uint64_t version;
      ASSERT_TRUE(accept_pull_reply(op, reply, wl, version).ok());
    }
  }
  void push(workload& wl, const std::vector<exchange_op>& ops) {
    for (const auto& op : ops) {
      const auto msg = encode_push(op, {op.table_id, 0, 0, ++seq, 0}, wl);
      push_view v;
      ASSERT_TRUE(decode_push(msg, v).ok());
      push_ack ack;
      ASSERT_TRUE(stores[op.shard].apply_push(v, ack).ok());
    }
  }
  std::vector<shard_store> stores;
  std::uint64_t seq = 0;
};

// A logistic regression over tiny_sparse_set with its first batch (8 rows) loaded.
std::unique_ptr<workload> logreg_first_batch() {
  logreg_workload_options o;
  o.batch = 8;
  auto wl = make_logreg_workload(o, tiny_sparse_set(), nullptr, 0, 1);
  wl->start_epoch(0);
  EXPECT_EQ(wl->next_batch(), 8u);
  return wl;
}

TEST(Workload, ExchangePlanGroupsSparseRowsByOwner) {
  auto wl = logreg_first_batch();
  const auto ops = plan_exchange(*wl, 3);
  std::size_t rows = 0;
  int bias_ops = 0;
  for (const auto& op : ops) {
    if (!op.sparse) {
      ++bias_ops;
      EXPECT_EQ(op.range.size(), 1u);
      continue;
    }
    for (std::size_t i = 0; i < op.keys.size(); ++i) {
      EXPECT_EQ(shard_of_row(op.keys[i], 3), op.shard);
      EXPECT_EQ(wl->sparse_keys(0)[op.index[i]], op.keys[i]);
    }
    rows += op.keys.size();
  }
  EXPECT_EQ(rows, wl->sparse_keys(0).size());
  EXPECT_EQ(bias_ops, 1) << "a one-value dense table lives on one shard";
}

// A push says it was scanned (PushRequest.checkedFinite, which spares a
// shard of the same process its own scan) only when finish_push scanned it
// and found every value usable; encode_push, which does not scan, never.
TEST(Workload, OnlyAScannedPushSaysSo) {
  auto wl = logreg_first_batch();
  const auto ops = plan_exchange(*wl, 2);
  mini_cluster c(wl->tables(), 2);
  c.pull(*wl, ops);
  std::vector<push_in_progress> pushes;
  for (const auto& op : ops) pushes.push_back(begin_push(op, {op.table_id, 0, 0, 1, 0}, *wl));
  wl->train_step();
  for (std::size_t i = 0; i < ops.size(); ++i) {
    std::size_t unusable = 0;
    const auto scanned = finish_push(ops[i], std::move(pushes[i]), *wl, &unusable);
    EXPECT_EQ(unusable, no_unusable_value);
    push_view v;
    ASSERT_TRUE(decode_push(scanned, v).ok());
    EXPECT_TRUE(v.checked_finite);
    const auto plain = encode_push(ops[i], {ops[i].table_id, 0, 0, 2, 0}, *wl);
    ASSERT_TRUE(decode_push(plain, v).ok());
    EXPECT_FALSE(v.checked_finite);
  }
}

TEST(Workload, LogregGradientMatchesFiniteDifferences) {
  logreg_workload_options o;
  o.batch = 40;
  auto data = tiny_sparse_set();
  auto wl = make_logreg_workload(o, data, nullptr, 0, 1);
  wl->start_epoch(0);
  ASSERT_EQ(wl->next_batch(), 40u);
  const auto keys = wl->sparse_keys(0);
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.f, 0.3f);
  std::vector<float> w(keys.size());
  for (auto& x : w) x = normal(rng);
  float bias = 0.2f;
  auto loss_at = [&](const std::vector<float>& ws, float b) {
    for (std::size_t i = 0; i < ws.size(); ++i) wl->set_row(0, i, &ws[i]);
    wl->set_dense(1, 0, &b, 1);
    return wl->train_step().loss_sum / 40.0;
  };
  loss_at(w, bias);
  std::vector<float> grad(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) grad[i] = *wl->row_grad(0, i);
  float gb;
  wl->dense_grad(1, 0, 1, &gb);
  const double eps = 1e-3;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto plus = w, minus = w;
    plus[i] += static_cast<float>(eps);
    minus[i] -= static_cast<float>(eps);
    const double numeric = (loss_at(plus, bias) - loss_at(minus, bias)) / (2 * eps);
    EXPECT_NEAR(grad[i], numeric, 1e-3) << "feature " << keys[i];
  }
  const double numeric_b =
      (loss_at(w, bias + static_cast<float>(eps)) - loss_at(w, bias - static_cast<float>(eps))) /
      (2 * eps);
  EXPECT_NEAR(gb, numeric_b, 1e-3);
}

TEST(Workload, LogregTrainsThroughShardsAndEvaluates) {
  logreg_workload_options o;
  o.batch = 10;
  o.optimizer = {optimizer_kind::adagrad, 0.5f};
  auto data = tiny_sparse_set();
  auto wl = make_logreg_workload(o, data, data, 0, 1);
  mini_cluster cluster(wl->tables(), 2);
  wl->prepare_eval();
  cluster.pull(*wl, plan_exchange(*wl, 2));
  const auto before = wl->evaluate();
  EXPECT_NEAR(before.loss_sum / before.rows, std::log(2.0), 1e-6) << "zero weights: p = 1/2";
  for (std::uint64_t epoch = 0; epoch < 30; ++epoch) {
    wl->start_epoch(epoch);
    while (wl->next_batch() > 0) {
      const auto ops = plan_exchange(*wl, 2);
      cluster.pull(*wl, ops);
      wl->train_step();
      cluster.push(*wl, ops);
    }
  }
  wl->prepare_eval();
  cluster.pull(*wl, plan_exchange(*wl, 2));
  const auto after = wl->evaluate();
  EXPECT_LT(after.loss_sum / after.rows, 0.5 * before.loss_sum / before.rows);
  EXPECT_GT(after.correct, 30u);
}

}  // namespace
}  // namespace troupe
