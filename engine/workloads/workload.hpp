#pragma once
// What a worker (or the evaluator) computes, independent of how parameters
// travel: the tables a model uses, its batches, the sparse rows a batch
// touches, and one step of forward/backward. The actors move values in and
// gradients out through this interface; the wire never sees a model.
//
//   auto wl = make_train_workload(job, data, /*part=*/0, /*parts=*/2);
//   wl->start_epoch(0);
//   while (wl->next_batch() > 0) {
//     for each table t: pull values -> wl->set_dense(...) / wl->set_row(...)
//     auto r = wl->train_step();
//     push wl->dense_grad(...) / wl->row_grad(...)
//   }

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/store/table.hpp"

namespace troupe {

/// Loss and accuracy counts of a batch or of an evaluation.
struct step_result {
  double loss_sum = 0;  ///< summed per-row loss (squared error for regression)
  std::uint64_t correct = 0;
  std::uint64_t rows = 0;
  double abs_err_sum = 0;  ///< regression: summed |prediction - target|
};

class workload {
 public:
  virtual ~workload() = default;

  /// The tables of the model (same ids and specs on every worker and shard).
  virtual const std::vector<table_spec>& tables() const = 0;

  // -- training (a worker's partition) ---------------------------------------
  virtual void start_epoch(std::uint64_t epoch) = 0;
  /// Loads the next batch of the epoch; returns its rows, 0 at the epoch's end.
  virtual std::size_t next_batch() = 0;
  /// Forward and backward on the loaded batch with the values set since.
  virtual step_result train_step() = 0;
  /// Gathers the batch after the loaded one now, so that the next
  /// next_batch() only swaps buffers; false (the default) when this
  /// workload gathers in next_batch(). May run on another thread while the
  /// owner computes the loaded batch (train_step and the value and gradient
  /// calls); everything that moves through the epoch waits for it. The
  /// batches and their order are the same, staged or not, and a gather that
  /// fails while staging throws from the next next_batch().
  virtual bool stage_next_batch() { return false; }

  /// Frees what only a running step needs (activations, the batch); a
  /// worker that waits for a thread of the compute pool holds nothing big.
  virtual void release_workspace() {}

  // -- evaluation (the test set) ---------------------------------------------
  /// Makes sparse_keys() list the rows the whole test set needs.
  virtual void prepare_eval() = 0;
  virtual step_result evaluate() = 0;
  /// True when evaluate()'s loss is a squared error: a regression, reported
  /// as RMSE and MAE instead of log-loss and accuracy.
  virtual bool squared_error_loss() const { return false; }
  /// True when the workload holds a validation set; prepare_eval() then also
  /// lists the rows it needs, and evaluate_validation() scores it.
  virtual bool has_validation() const { return false; }
  virtual step_result evaluate_validation() { return {}; }
  /// Human-readable findings of the last evaluate() beyond loss and
  /// accuracy (e.g. nearest neighbours of embeddings); empty when none.
  virtual std::string eval_report() const { return {}; }

  // -- parameter exchange (t indexes tables()) -------------------------------
  /// Sorted, unique rows of sparse table t needed by the batch (or the eval).
  virtual const std::vector<std::uint64_t>& sparse_keys(std::size_t t) const = 0;
  /// Dense values of keys [offset, offset + n) of table t.
  virtual void set_dense(std::size_t t, std::uint64_t offset, const float* values,
                         std::size_t n) = 0;
  /// Like set_dense, but the workload may instead read `values` in place
  /// until the next train_step returns (no copy); the default copies.
  virtual void view_dense(std::size_t t, std::uint64_t offset, const float* values, std::size_t n) {
    set_dense(t, offset, values, n);
  }
  /// Values of sparse row sparse_keys(t)[index].
  virtual void set_row(std::size_t t, std::size_t index, const float* values) = 0;
  /// Gradient of dense keys [offset, offset + n) of table t into `out`.
  virtual void dense_grad(std::size_t t, std::uint64_t offset, std::size_t n, float* out) = 0;
  /// Asks the next train_step to write the gradient of dense keys [offset,
  /// offset + n) of table t straight to `out` (a message being built). False
  /// (the default): it cannot; call dense_grad() after the step.
  virtual bool bind_dense_grad(std::size_t /*t*/, std::uint64_t /*offset*/, float* /*out*/,
                               std::size_t /*n*/) {
    return false;
  }
  /// Gradient of sparse row sparse_keys(t)[index] (width floats).
  virtual const float* row_grad(std::size_t t, std::size_t index) const = 0;
};

}  // namespace troupe
