#include "engine/workloads/skipgram_workload.hpp"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <stdexcept>

#include "engine/data/batch_sampler.hpp"
#include "engine/workloads/embedding_check.hpp"
#include "engine/workloads/sgns.hpp"

namespace troupe {

std::vector<table_spec> skipgram_tables(const skipgram_workload_options& o) {
  auto sparse = [&](std::uint32_t id, const char* name, float bound) {
    table_spec t;
    t.id = id;
    t.name = name;
    t.kind = table_kind::sparse;
    t.width = o.dim;
    t.row_init_bound = bound;  // 0: rows start at zero
    t.seed = o.seed + id;
    t.optimizer = o.optimizer;
    return t;
  };
  return {sparse(1, "word_in", 0.5f / static_cast<float>(o.dim)), sparse(2, "word_out", 0.0f)};
}

namespace {

enum : std::size_t { kIn = 0, kOut = 1 };

class skipgram_workload final : public workload {
 public:
  skipgram_workload(const skipgram_workload_options& o, std::shared_ptr<const brown_corpus> corpus,
                    std::uint32_t part, std::uint32_t parts)
      : o_(o),
        corpus_(std::move(corpus)),
        tables_(skipgram_tables(o)),
        negatives_(corpus_->vocab.counts, 0.75, 1 << 20),
        keep_(subsample_keep_probabilities(corpus_->vocab.counts, o.subsample)),
        rng_(o.seed),
        part_(part) {
    if (o.dim == 0 || o.window == 0 || o.batch == 0) {
      throw std::invalid_argument("skip-gram needs dim, window and batch >= 1");
    }
    if (!corpus_->train.empty() && corpus_->train.size() >= parts) {
      sampler_ = std::make_unique<batch_sampler>(corpus_->train.size(), part, parts, 1, o.seed);
    }
    slot_.assign(corpus_->vocab.size(), 0);
  }

  const std::vector<table_spec>& tables() const override { return tables_; }

  void start_epoch(std::uint64_t epoch) override {
    if (!sampler_) throw std::logic_error("no training sentences in this partition");
    sampler_->start_epoch(epoch);
    rng_ = sgns_rng(o_.seed ^ (0x9e3779b97f4a7c15ULL * (epoch + 1)) ^ (std::uint64_t{part_} << 40));
    sentence_.clear();
    pos_ = 0;
  }

  std::size_t next_batch() override {
    pairs_.clear();
    negs_.clear();
    std::size_t centres = 0;
    while (centres < o_.batch) {
      if (pos_ >= sentence_.size()) {
        const auto& next = sampler_->next_indices();
        if (next.empty()) break;
        subsample(corpus_->train[next.front()], keep_, rng_, sentence_);
        pos_ = 0;
        continue;
      }
      const std::uint32_t centre = sentence_[pos_];
      for_each_context(sentence_, pos_, o_.window, rng_, [&](std::uint32_t ctx) {
        pairs_.push_back({centre, ctx});
        for (std::uint32_t k = 0; k < o_.negatives; ++k) negs_.push_back(draw_negative(ctx));
      });
      ++pos_;
      ++centres;
    }
    index_batch();
    return centres;
  }

  step_result train_step() override {
    for (auto& g : grads_) std::fill(g.begin(), g.end(), 0.0f);
    const std::size_t d = o_.dim, n = o_.negatives;
    const float* in = values_[kIn].data();
    const float* out = values_[kOut].data();
    float* g_in = grads_[kIn].data();
    float* g_out = grads_[kOut].data();
    double loss = 0;
    for (std::size_t p = 0; p < pairs_.size(); ++p) {
      const std::size_t u = pairs_[p].first * d, v = pairs_[p].second * d;
      loss += sgns_pair_grad(in + u, out + v, 1.0f, d, g_in + u, g_out + v);
      for (std::size_t k = 0; k < n; ++k) {
        const std::size_t w = negs_[p * n + k] * d;
        loss += sgns_pair_grad(in + u, out + w, 0.0f, d, g_in + u, g_out + w);
      }
    }
    step_result r;
    r.loss_sum = loss;
    r.rows = pairs_.size();
    return r;
  }

  void prepare_eval() override {
    for (auto& k : keys_) {
      k.resize(corpus_->vocab.size());
      std::iota(k.begin(), k.end(), std::uint64_t{0});
    }
    size_buffers(/*with_grads=*/false);
  }

  step_result evaluate() override;
  std::string eval_report() const override { return report_; }

  const std::vector<std::uint64_t>& sparse_keys(std::size_t t) const override { return keys_[t]; }
  void set_dense(std::size_t, std::uint64_t, const float*, std::size_t) override {
    throw std::logic_error("skip-gram has no dense table");
  }
  void set_row(std::size_t t, std::size_t index, const float* v) override {
    std::copy(v, v + o_.dim, values_[t].begin() + static_cast<long>(index * o_.dim));
  }
  void dense_grad(std::size_t, std::uint64_t, std::size_t, float*) override {
    throw std::logic_error("skip-gram has no dense table");
  }
  const float* row_grad(std::size_t t, std::size_t index) const override {
    return &grads_[t][index * o_.dim];
  }

 private:
  // word2vec skips a negative that is the context itself; redraw instead so
  // that every pair has exactly `negatives` of them.
  std::uint32_t draw_negative(std::uint32_t ctx) {
    std::uint32_t w = negatives_.draw(rng_);
    for (int tries = 0; w == ctx && tries < 8; ++tries) w = negatives_.draw(rng_);
    return w;
  }

  // Sorted unique keys per table, then word ids in pairs_/negs_ become row
  // positions in those keys (through slot_, a word -> position scratch map).
  void index_batch() {
    keys_[kIn].clear();
    keys_[kOut].clear();
    for (const auto& [c, ctx] : pairs_) {
      keys_[kIn].push_back(c);
      keys_[kOut].push_back(ctx);
    }
    keys_[kOut].insert(keys_[kOut].end(), negs_.begin(), negs_.end());
    for (auto& k : keys_) {
      std::sort(k.begin(), k.end());
      k.erase(std::unique(k.begin(), k.end()), k.end());
    }
    for (std::size_t i = 0; i < keys_[kIn].size(); ++i)
      slot_[keys_[kIn][i]] = static_cast<std::uint32_t>(i);
    for (auto& p : pairs_) p.first = slot_[p.first];
    for (std::size_t i = 0; i < keys_[kOut].size(); ++i)
      slot_[keys_[kOut][i]] = static_cast<std::uint32_t>(i);
    for (auto& p : pairs_) p.second = slot_[p.second];
    for (auto& w : negs_) w = slot_[w];
    size_buffers(/*with_grads=*/true);
  }

  void size_buffers(bool with_grads) {
    for (std::size_t t = 0; t < 2; ++t) {
      values_[t].assign(keys_[t].size() * o_.dim, 0.0f);
      grads_[t].assign(with_grads ? values_[t].size() : 0, 0.0f);
    }
  }

  double heldout_loss() const;

  skipgram_workload_options o_;
  std::shared_ptr<const brown_corpus> corpus_;
  std::vector<table_spec> tables_;
  negative_sampler negatives_;
  std::vector<float> keep_;
  sgns_rng rng_;
  std::uint32_t part_;
  std::unique_ptr<batch_sampler> sampler_;
  std::vector<std::uint32_t> sentence_;                         // the current sentence, subsampled
  std::size_t pos_ = 0;                                         // next centre in it
  std::vector<std::pair<std::uint32_t, std::uint32_t>> pairs_;  // (centre, context)
  std::vector<std::uint32_t> negs_;                             // `negatives` per pair
  std::vector<std::uint32_t> slot_;
  std::vector<std::uint64_t> keys_[2];
  std::vector<float> values_[2], grads_[2];
  std::string report_;
};

// Mean loss per held-out (word, context) pair, no subsampling, negatives
// from a fixed seed so that evaluations of different models compare.
double skipgram_workload::heldout_loss() const {
  sgns_rng rng(o_.seed ^ 0x5eedf00dULL);
  const std::size_t d = o_.dim;
  const float* in = values_[kIn].data();
  const float* out = values_[kOut].data();
  double loss = 0;
  std::uint64_t pairs = 0;
  for (const auto& s : corpus_->test) {
    for (std::size_t pos = 0; pos < s.size(); ++pos) {
      const float* u = in + s[pos] * d;
      for_each_context(s, pos, o_.window, rng, [&](std::uint32_t ctx) {
        loss += sgns_pair_grad(u, out + ctx * d, 1.0f, d, nullptr, nullptr);
        for (std::uint32_t k = 0; k < o_.negatives; ++k) {
          loss += sgns_pair_grad(u, out + negatives_.draw(rng) * d, 0.0f, d, nullptr, nullptr);
        }
        ++pairs;
      });
    }
  }
  return pairs ? loss / static_cast<double>(pairs) : 0;
}

step_result skipgram_workload::evaluate() {
  if (keys_[kIn].size() != corpus_->vocab.size()) {
    throw std::logic_error("skip-gram evaluate() before prepare_eval()");
  }
  const double loss = heldout_loss();
  const auto& vocab = corpus_->vocab;
  const auto check = check_related_pairs(values_[kIn].data(), vocab, o_.dim, o_.pairs,
                                         o_.random_per_pair, o_.seed);
  char line[256];
  std::snprintf(line, sizeof line,
                "skip-gram: %zu words, dim %u; held-out SGNS loss %.4f per pair\n"
                "related pairs: %zu used (%zu with unknown words skipped); mean cos %.3f vs "
                "random words %.3f; wins %llu/%llu = %.3f (chance 0.5)\n",
                vocab.size(), o_.dim, loss, check.pairs_used, check.pairs_missing,
                check.mean_related_cos, check.mean_random_cos,
                static_cast<unsigned long long>(check.wins),
                static_cast<unsigned long long>(check.comparisons), check.win_rate());
  report_ = line;
  report_ += "nearest neighbours (cosine of word vectors):\n";
  report_ += neighbour_lines(values_[kIn].data(), vocab, o_.dim, o_.report_words, 5);
  // One count for both metrics: accuracy = wins / comparisons and
  // loss = loss_sum / rows must both come out right.
  step_result r;
  r.rows = check.comparisons ? check.comparisons : 1;
  r.correct = check.wins;
  r.loss_sum = loss * static_cast<double>(r.rows);
  return r;
}

}  // namespace

std::unique_ptr<workload> make_skipgram_workload(const skipgram_workload_options& o,
                                                 std::shared_ptr<const brown_corpus> corpus,
                                                 std::uint32_t part, std::uint32_t parts) {
  if (!corpus) throw std::invalid_argument("skip-gram needs a corpus");
  return std::make_unique<skipgram_workload>(o, std::move(corpus), part, parts);
}

}  // namespace troupe
