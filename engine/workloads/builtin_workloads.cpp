// The built-in workload kinds, registered like a user's: mlp (dense
// classifier or regressor), logreg (sparse logistic regression), mf (matrix
// factorisation of ratings) and skipgram (word embeddings). Each says which
// data it trains on, loads it, fits the model to it and builds workloads.
#include <algorithm>

#include "engine/data/file_data.hpp"
#include "engine/data/row_split.hpp"
#include "engine/data/spam_corpus.hpp"
#include "engine/errors.hpp"
#include "engine/workloads/logreg_workload.hpp"
#include "engine/workloads/mf_workload.hpp"
#include "engine/workloads/mlp_workload.hpp"
#include "engine/workloads/skipgram_workload.hpp"
#include "engine/workloads/workload_factory.hpp"
#include "engine/workloads/workload_registry.hpp"

namespace troupe {

namespace {

[[noreturn]] void fail(const std::string& key, const std::string& why) {
  throw troupe_error(errc::bad_config, key + ": " + why);
}

mlp_workload_options mlp_options(const job_config& job) {
  mlp_workload_options o;
  o.model = job.model;
  o.batch = job.batch;
  o.seed = job.seed;
  o.optimizer = job.optimizer;
  o.backend = job.backend;
  return o;
}

mf_workload_options mf_options(const job_config& job) {
  mf_workload_options o;
  o.dim = job.embedding_dim;
  o.batch = job.batch;
  o.seed = job.seed;
  o.l2 = static_cast<float>(job.l2);
  o.optimizer = job.optimizer;
  return o;
}

skipgram_workload_options skipgram_options(const job_config& job) {
  skipgram_workload_options o;
  o.dim = job.embedding_dim;
  o.batch = job.batch;
  o.window = job.window;
  o.negatives = job.negatives;
  o.subsample = job.subsample;
  o.seed = job.seed;
  o.optimizer = job.optimizer;
  return o;
}

logreg_workload_options logreg_options(const job_config& job) {
  logreg_workload_options o;
  o.batch = job.batch;
  o.seed = job.seed;
  o.optimizer = job.optimizer;
  return o;
}

std::shared_ptr<const sparse_dataset> first_rows(sparse_dataset d, std::uint64_t limit) {
  if (limit == 0 || limit >= d.rows) return std::make_shared<const sparse_dataset>(std::move(d));
  std::vector<std::size_t> idx(limit);
  for (std::size_t i = 0; i < limit; ++i) idx[i] = i;
  return std::make_shared<const sparse_dataset>(select_rows(d, idx));
}

// Users' files ([data] format), split and normalised.
void load_files(const job_config& job, workload_data& data) {
  file_data_request r;
  r.spec = job.data;
  r.regression = job.model_kind == "mlp" && is_regression(job.model.loss);
  r.split_seed = job.split_seed;
  r.test_fraction = job.test_fraction;
  r.train_limit = job.train_limit;
  r.test_limit = job.test_limit;
  auto f = load_file_data(r);
  data.dense_train = std::move(f.dense_train);
  data.dense_test = std::move(f.dense_test);
  data.dense_validation = std::move(f.dense_validation);
  data.sparse_train = std::move(f.sparse_train);
  data.sparse_test = std::move(f.sparse_test);
  data.sparse_validation = std::move(f.sparse_validation);
  data.ratings_train = std::move(f.ratings_train);
  data.ratings_test = std::move(f.ratings_test);
  data.ratings_validation = std::move(f.ratings_validation);
  if (data.ratings_train) data.ratings_mean = static_cast<float>(data.ratings_train->mean());
}

std::shared_ptr<const workload_data> load_builtin_data(const job_config& job) {
  auto data = std::make_shared<workload_data>();
  const auto dir = resolved_data_dir(job);
  // A built-in set's validation rows come out of its training rows, as a
  // file's do (the fraction was read and then ignored for these).
  const double validation = job.data.validation_fraction;
  if (job.data.from_files()) {
    load_files(job, *data);
  } else if (job.data_set == "movielens") {
    auto split = load_movielens(dir, job.split_seed, job.test_fraction);
    if (validation > 0) {
      data->ratings_validation = std::make_shared<const ratings_dataset>(
          take_out(split.train, pick_rows(split.train.size(), validation, job.split_seed + 1)));
    }
    data->ratings_mean = static_cast<float>(split.train.mean());
    data->ratings_train = std::make_shared<const ratings_dataset>(std::move(split.train));
    data->ratings_test = std::make_shared<const ratings_dataset>(std::move(split.test));
  } else if (job.data_set == "brown") {
    data->text = std::make_shared<const brown_corpus>(
        load_brown(dir, job.min_count, job.split_seed, job.test_fraction));
  } else if (job.data_set == "spam-assassin") {
    // The split has its own seed: a sweep's repeats vary initialisation and
    // order, not the test set they are scored on.
    auto split = load_spam_assassin(dir, job.split_seed, job.test_fraction, job.min_count);
    if (validation > 0) {
      data->sparse_validation = std::make_shared<const sparse_dataset>(
          take_out(split.train, pick_rows(split.train.rows, validation, job.split_seed + 1)));
    }
    data->sparse_train = first_rows(std::move(split.train), job.train_limit);
    data->sparse_test = first_rows(std::move(split.test), job.test_limit);
  } else {
    auto train = load_fashion_mnist(dir, "train");
    if (validation > 0) {
      data->dense_validation = std::make_shared<const dataset>(
          take_out(train, pick_rows(train.rows, validation, job.split_seed + 1)));
    }
    data->dense_train =
        std::make_shared<const dataset>(take_rows(std::move(train), job.train_limit));
    data->dense_test =
        std::make_shared<const dataset>(take_rows(load_fashion_mnist(dir, "test"), job.test_limit));
  }
  if (data->train_rows() < job.workers) {
    throw troupe_error(errc::bad_config, "fewer training rows (" +
                                             std::to_string(data->train_rows()) + ") than workers");
  }
  // A job is scored on its test set: with none it reported a perfect loss
  // and its target reached at once.
  const bool no_test = data->text
                           ? std::none_of(data->text->test.begin(), data->text->test.end(),
                                          [](const auto& sentence) { return sentence.size() >= 2; })
                           : data->test_rows() == 0;
  if (no_test) {
    throw troupe_error(errc::bad_config,
                       std::string("the test set of ") + job.data_set + " is empty" +
                           (data->text ? " (no held-out sentence of two words or more)" : "") +
                           ": raise data.test_fraction (now " + std::to_string(job.test_fraction) +
                           ")");
  }
  return data;
}

// Which data a built-in kind trains on: its data set, or files of a format.
void check_data(const job_config& job, const char* data_set, const char* format,
                const std::string& what) {
  if (job.data.from_files() ? job.data.format != format : job.data_set != data_set) {
    fail("model.kind", "the " + job.model_kind + " model trains on " + what);
  }
}

void check_mlp(const job_config& job) {
  if (job.data.from_files()) {
    if (job.data.format == "libsvm" || job.data.format == "ratings") {
      fail("model.kind", job.data.format + " data trains the " +
                             (job.data.format == "libsvm" ? "logreg" : "mf") +
                             " model; mlp takes csv, idx or npy");
    }
  } else if (job.data_set != "fashion-mnist") {
    fail("model.kind", "the mlp model trains on fashion-mnist or files of format csv, idx, npy");
  }
  const auto& s = job.model.sizes;
  for (std::size_t i = 1; i + 1 < s.size(); ++i) {
    if (s[i] <= 0) fail("model.layers", "hidden layer sizes must be positive");
  }
  if (!job.data.from_files() &&
      ((s.front() != 784 && s.front() != 0) || (s.back() != 10 && s.back() != 0))) {
    fail("model.layers", "Fashion-MNIST needs 784 inputs and 10 outputs");
  }
  if (job.stages > 1 && job.model.loss != loss_kind::softmax) {
    fail("model.stages", "pipelined stages train the softmax loss only");
  }
}

void fit_mlp(job_config& job, const workload_data& data) {
  const auto& train = *data.dense_train;
  auto& s = job.model.sizes;
  const int width = static_cast<int>(train.cols);
  const std::string source = train.source.empty() ? job.data_set : train.source;
  const bool regression = is_regression(job.model.loss);
  if (job.model.loss == loss_kind::logistic && train.classes > 2) {
    fail("model.loss", "the logistic loss takes labels 0 and 1 but " + source + " has " +
                           std::to_string(train.classes) + " classes (use softmax)");
  }
  const int outputs = outputs_for(job.model.loss, std::max(train.classes, 1));
  if (s.front() == 0) {
    s.front() = width;
  } else if (s.front() != width) {
    fail("model.layers", "the model takes " + std::to_string(s.front()) + " inputs but " + source +
                             " has " + std::to_string(width) + " features");
  }
  if (s.back() == 0) {
    s.back() = outputs;
  } else if (regression || job.model.loss == loss_kind::logistic) {
    if (s.back() != 1) {
      fail("model.layers", "the model has " + std::to_string(s.back()) + " outputs but the " +
                               to_string(job.model.loss) + " loss needs 1");
    }
  } else if (s.back() < train.classes) {
    fail("model.layers", "the model has " + std::to_string(s.back()) + " outputs but " + source +
                             " has " + std::to_string(train.classes) + " classes (labels up to " +
                             std::to_string(train.classes - 1) + ")");
  }
}

void fit_logreg(job_config&, const workload_data& data) {
  for (const auto* d :
       {data.sparse_train.get(), data.sparse_test.get(), data.sparse_validation.get()}) {
    if (d == nullptr) continue;
    const auto top = std::max_element(d->labels.begin(), d->labels.end());
    if (top != d->labels.end() && *top > 1) {
      fail("model.kind", "logreg takes binary labels (0/1, or -1/+1) but the data has label " +
                             std::to_string(*top));
    }
  }
}

}  // namespace

void register_builtin_workloads(const std::function<void(workload_kind)>& add) {
  workload_kind mlp;
  mlp.name = "mlp";
  mlp.check = check_mlp;
  mlp.load_data = load_builtin_data;
  mlp.fit = fit_mlp;
  mlp.tables = [](const job_config& job) {
    return std::vector<table_spec>{mlp_table(mlp_options(job))};
  };
  mlp.make_train = [](const job_config& job, std::shared_ptr<const workload_data> d,
                      std::uint32_t part, std::uint32_t parts) {
    return make_mlp_workload(mlp_options(job), d->dense_train, nullptr, part, parts);
  };
  mlp.make_eval = [](const job_config& job, std::shared_ptr<const workload_data> d) {
    return make_mlp_workload(mlp_options(job), nullptr, d->dense_test, 0, 1, d->dense_validation);
  };
  mlp.regression = [](const job_config& job) { return is_regression(job.model.loss); };
  add(std::move(mlp));

  workload_kind logreg;
  logreg.name = "logreg";
  logreg.check = [](const job_config& job) {
    check_data(job, "spam-assassin", "libsvm", "spam-assassin or libsvm files");
  };
  logreg.load_data = load_builtin_data;
  logreg.fit = fit_logreg;
  logreg.tables = [](const job_config& job) { return logreg_tables(logreg_options(job)); };
  logreg.make_train = [](const job_config& job, std::shared_ptr<const workload_data> d,
                         std::uint32_t part, std::uint32_t parts) {
    return make_logreg_workload(logreg_options(job), d->sparse_train, nullptr, part, parts);
  };
  logreg.make_eval = [](const job_config& job, std::shared_ptr<const workload_data> d) {
    return make_logreg_workload(logreg_options(job), nullptr, d->sparse_test, 0, 1,
                                d->sparse_validation);
  };
  add(std::move(logreg));

  workload_kind mf;
  mf.name = "mf";
  mf.check = [](const job_config& job) {
    check_data(job, "movielens", "ratings", "movielens or ratings files");
  };
  mf.load_data = load_builtin_data;
  mf.tables = [](const job_config& job) { return mf_tables(mf_options(job)); };
  mf.make_train = [](const job_config& job, std::shared_ptr<const workload_data> d,
                     std::uint32_t part, std::uint32_t parts) {
    return make_mf_workload(mf_options(job), d->ratings_train, nullptr, d->ratings_mean, part,
                            parts);
  };
  mf.make_eval = [](const job_config& job, std::shared_ptr<const workload_data> d) {
    return make_mf_workload(mf_options(job), nullptr, d->ratings_test, d->ratings_mean, 0, 1,
                            d->ratings_validation);
  };
  mf.regression = [](const job_config&) { return true; };
  add(std::move(mf));

  workload_kind skipgram;
  skipgram.name = "skipgram";
  skipgram.check = [](const job_config& job) {
    if (job.data.from_files() || job.data_set != "brown") {
      fail("model.kind", "the skipgram model trains on the brown corpus");
    }
    // Its evaluation ranks held-out word pairs; there is no validation loss.
    if (job.data.validation_fraction > 0) {
      fail("data.validation_fraction", "the skipgram model has no validation set");
    }
  };
  skipgram.load_data = load_builtin_data;
  skipgram.tables = [](const job_config& job) { return skipgram_tables(skipgram_options(job)); };
  skipgram.make_train = [](const job_config& job, std::shared_ptr<const workload_data> d,
                           std::uint32_t part, std::uint32_t parts) {
    return make_skipgram_workload(skipgram_options(job), d->text, part, parts);
  };
  skipgram.make_eval = [](const job_config& job, std::shared_ptr<const workload_data> d) {
    return make_skipgram_workload(skipgram_options(job), d->text, 0, 1);
  };
  add(std::move(skipgram));
}

}  // namespace troupe
