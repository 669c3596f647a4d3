// The skip-gram workload: a batch's summed gradient against finite
// differences, and training through real shard stores (pull -> step -> push,
// the way worker actors do) until words that always share contexts are
// closer to each other than to words that never do.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "engine/store/shard_store.hpp"
#include "engine/wire/exchange_plan.hpp"
#include "engine/workloads/embedding_check.hpp"
#include "engine/workloads/sgns.hpp"
#include "engine/workloads/skipgram_workload.hpp"

namespace troupe {
namespace {

// Three topics; a sentence mixes one topic's context words with one of its
// two "synonyms", so synonyms share every context and other topics' none.
std::shared_ptr<const brown_corpus> topic_corpus(std::size_t sentences) {
  const std::vector<std::vector<std::string>> synonyms = {
      {"alpha", "beta"}, {"gamma", "delta"}, {"kappa", "lambda"}};
  sgns_rng rng(11);
  std::vector<std::vector<std::string>> text;
  for (std::size_t i = 0; i < sentences; ++i) {
    const auto t = rng.below(3);
    std::vector<std::string> s;
    for (int w = 0; w < 6; ++w) s.push_back("c" + std::to_string(t) + std::to_string(rng.below(4)));
    s.insert(s.begin() + 1 + rng.below(5), synonyms[t][rng.below(2)]);
    text.push_back(std::move(s));
  }
  return std::make_shared<const brown_corpus>(make_corpus(text, 1, 3, 0.1));
}

skipgram_workload_options small_options() {
  skipgram_workload_options o;
  o.dim = 8;
  o.batch = 16;
  o.window = 2;
  o.negatives = 3;
  o.subsample = 0;
  o.pairs = {{"alpha", "beta"}, {"gamma", "delta"}, {"kappa", "lambda"}, {"alpha", "nowhere"}};
  o.report_words = {"alpha", "gamma"};
  return o;
}

TEST(SkipgramWorkload, BatchGradientMatchesFiniteDifferences) {
  auto o = small_options();
  auto wl = make_skipgram_workload(o, topic_corpus(50), 0, 1);
  wl->start_epoch(0);
  ASSERT_EQ(wl->next_batch(), o.batch);
  sgns_rng rng(2);
  std::vector<std::vector<float>> rows[2];
  for (std::size_t t = 0; t < 2; ++t) {
    const auto& keys = wl->sparse_keys(t);
    ASSERT_TRUE(std::is_sorted(keys.begin(), keys.end()));
    ASSERT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      std::vector<float> r(o.dim);
      for (auto& x : r) x = rng.unit() - 0.5f;
      wl->set_row(t, i, r.data());
      rows[t].push_back(r);
    }
  }
  const auto base = wl->train_step();
  EXPECT_GT(base.rows, o.batch);  // several contexts per centre word
  std::vector<std::vector<float>> grads[2];
  for (std::size_t t = 0; t < 2; ++t) {
    for (std::size_t i = 0; i < rows[t].size(); ++i) {
      const float* g = wl->row_grad(t, i);
      grads[t].emplace_back(g, g + o.dim);
    }
  }
  const float h = 1e-2f;
  for (std::size_t t = 0; t < 2; ++t) {
    for (std::size_t i = 0; i < rows[t].size(); i += 2) {
      for (std::size_t k = 0; k < o.dim; k += 3) {
        auto r = rows[t][i];
        r[k] += h;
        wl->set_row(t, i, r.data());
        const double up = wl->train_step().loss_sum;
        r[k] -= 2 * h;
        wl->set_row(t, i, r.data());
        const double down = wl->train_step().loss_sum;
        wl->set_row(t, i, rows[t][i].data());
        EXPECT_NEAR(grads[t][i][k], (up - down) / (2 * h), 2e-2)
            << "table " << t << " row " << wl->sparse_keys(t)[i] << " col " << k;
      }
    }
  }
}

// Serves a workload from shard stores the way the worker actors do.
struct store_cluster {
  store_cluster(const std::vector<table_spec>& tables, std::uint32_t shards) {
    for (std::uint32_t k = 0; k < shards; ++k) {
      stores.emplace_back(k);
      for (const auto& t : tables) stores.back().add_sparse(t, shards);
    }
  }
  void pull(workload& wl) {
    for (const auto& op : plan_exchange(wl, static_cast<std::uint32_t>(stores.size()))) {
      pull_request_view req;
      ASSERT_TRUE(decode_pull_request(encode_pull(op, 0), req).ok());
      bytes reply;
      ASSERT_TRUE(stores[op.shard].read_pull(req, reply).ok());
      std::uint64_t version;
      ASSERT_TRUE(accept_pull_reply(op, reply, wl, version).ok());
    }
  }
  void push(workload& wl, std::uint32_t worker) {
    for (const auto& op : plan_exchange(wl, static_cast<std::uint32_t>(stores.size()))) {
      const auto msg = encode_push(op, {op.table_id, worker, 0, ++seq[worker], 0}, wl);
      push_view v;
      ASSERT_TRUE(decode_push(msg, v).ok());
      push_ack ack;
      ASSERT_TRUE(stores[op.shard].apply_push(v, ack).ok());
    }
  }
  std::vector<shard_store> stores;
  std::map<std::uint32_t, std::uint64_t> seq;
};

TEST(SkipgramWorkload, TrainsThroughShardsUntilSharedContextsMeanSimilarVectors) {
  auto o = small_options();
  o.optimizer = {optimizer_kind::adagrad, 0.1f};
  const auto corpus = topic_corpus(600);
  store_cluster cluster(skipgram_tables(o), 2);
  std::vector<std::unique_ptr<workload>> workers;
  for (std::uint32_t w = 0; w < 2; ++w) workers.push_back(make_skipgram_workload(o, corpus, w, 2));
  double first_loss = -1, last_loss = 0;
  for (std::uint64_t epoch = 0; epoch < 4; ++epoch) {
    for (auto& wl : workers) wl->start_epoch(epoch);
    bool more = true;
    while (more) {
      more = false;
      for (std::uint32_t w = 0; w < 2; ++w) {
        if (workers[w]->next_batch() == 0) continue;
        more = true;
        cluster.pull(*workers[w]);
        const auto r = workers[w]->train_step();
        const double loss = r.loss_sum / static_cast<double>(r.rows);
        if (first_loss < 0) first_loss = loss;
        last_loss = loss;
        cluster.push(*workers[w], w);
      }
    }
  }
  EXPECT_LT(last_loss, 0.7 * first_loss);

  auto eval = make_skipgram_workload(o, corpus, 0, 1);
  eval->prepare_eval();
  ASSERT_EQ(eval->sparse_keys(0).size(), corpus->vocab.size());
  cluster.pull(*eval);
  const auto r = eval->evaluate();
  // 3 pairs in the vocabulary x 10 random words; "nowhere" is skipped.
  EXPECT_EQ(r.rows, 30u);
  EXPECT_GE(r.correct, 27u);
  const auto report = eval->eval_report();
  EXPECT_NE(report.find("alpha -> beta"), std::string::npos) << report;
  EXPECT_NE(report.find("gamma -> delta"), std::string::npos) << report;
  EXPECT_NE(report.find("1 with unknown words skipped"), std::string::npos) << report;
}

}  // namespace
}  // namespace troupe
