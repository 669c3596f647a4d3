#pragma once
// One stage of a pipelined MLP (model parallelism): a contiguous run of the
// model's dense layers (each with the ReLU that follows it) and the slice of
// the flat "model" table holding their parameters. A batch is cut into
// micro-batches; every micro-batch keeps its own activations, so a stage can
// run forward on micro-batch 3 while micro-batch 0 waits for its backward.
//
//   auto ranges = split_mlp(spec, 2);                // balanced by parameters
//   pipeline_stage s0(spec, ranges[0], *be, 16, 4), s1(spec, ranges[1], *be, 16, 4);
//   s0.begin_step(); s1.begin_step();                // zero the gradients
//   s0.forward(m, x, rows, 64, act);                 // rows of the 64-row batch
//   auto r = s1.forward_backward(m, act, labels, rows, 64, dact);
//   s0.backward(m, dact, nullptr);
//   // grads() of the stages now equal the unsplit model's batch gradient
//
// Gradients: a micro-batch's backward starts from d(mean loss of the
// micro-batch) and is added with weight rows / batch_rows, so the sum over
// the micro-batches is the gradient of the whole batch's mean loss, the one
// the unsplit model pushes.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/errors.hpp"
#include "engine/model/layers.hpp"
#include "engine/model/model.hpp"
#include "engine/store/partitioner.hpp"
#include "engine/wire/wire_codec.hpp"
#include "kernels/backend.hpp"

namespace troupe {

/// Dense layers [first, last) of an MLP and where their parameters live.
struct stage_range {
  std::uint32_t first = 0;  ///< first dense layer (0-based)
  std::uint32_t last = 0;   ///< one past the last dense layer
  key_range keys;           ///< parameters in the flat model vector
  int in_width = 0;         ///< activations received per row
  int out_width = 0;        ///< activations sent per row (classes for the last stage)
};

/// Cuts the MLP's dense layers into `stages` contiguous runs minimising the
/// largest run's parameter count. Throws troupe_error(bad_config) when
/// stages is 0 or exceeds the number of dense layers.
std::vector<stage_range> split_mlp(const mlp_spec& spec, std::uint32_t stages);

/// Rows of micro-batch `m` when `batch_rows` rows are cut into `parts`
/// (sizes differ by at most one, larger first); `offset` receives its first row.
int micro_batch_rows(int batch_rows, int parts, int m, int* offset = nullptr);

/// A stage's key range on one shard: what it pulls from and pushes to it.
struct stage_exchange {
  std::uint32_t shard = 0;
  key_range keys;
};

class pipeline_stage {
 public:
  pipeline_stage(const mlp_spec& spec, const stage_range& range, kernels::backend& be,
                 int max_micro_rows, int micro_batches);
  pipeline_stage(const pipeline_stage&) = delete;
  pipeline_stage& operator=(const pipeline_stage&) = delete;

  const stage_range& range() const { return range_; }
  bool is_first() const { return range_.first == 0; }
  bool is_last() const { return last_; }
  int max_micro_rows() const { return max_rows_; }
  int micro_batches() const { return static_cast<int>(stacks_.size()); }
  kernels::backend& backend() { return be_; }
  /// The stage's slice of the model (backend memory; key range().keys.begin first).
  std::size_t size() const { return params_.size(); }
  float* params() { return params_.data(); }
  /// Gradients accumulated since begin_step() (backend memory).
  const float* grads() const { return grads_.data(); }

  /// Zeroes the accumulated gradients (the start of a step).
  void begin_step();

  /// Forward of micro-batch `m` (host rows x in_width) into host rows x
  /// out_width. Not for the last stage.
  void forward(int m, const float* host_x, int rows, int batch_rows, float* host_out);
  /// The last stage: forward, loss against `labels` (in [0, classes), the
  /// caller checks) and backward; writes d(micro-batch mean loss)/d(input)
  /// to host_dx unless this stage is also the first (host_dx may be null).
  kernels::xent_result forward_backward(int m, const float* host_x, const std::int32_t* labels,
                                        int rows, int batch_rows, float* host_dx);
  /// Backward of micro-batch `m` given d(loss)/d(output) (host rows x
  /// out_width, rows of its forward); writes dx unless the stage is first.
  void backward(int m, const float* host_dy, float* host_dx);
  /// Rows of micro-batch m's last forward.
  int rows_of(int m) const { return rows_.at(static_cast<std::size_t>(m)); }

  // -- parameter exchange: keys are global indices of the model table --------
  std::vector<stage_exchange> plan(std::uint64_t table_size, std::uint32_t shards) const;
  /// Checks that `reply` holds exactly `ex`'s keys of `table` and uploads them.
  status accept_pull(const stage_exchange& ex, std::uint32_t table, const bytes& reply,
                     std::uint64_t& version);
  /// The accumulated gradient of `ex`'s keys, written straight into the push.
  bytes encode_push(const stage_exchange& ex, const push_header& header);

 private:
  using stack = std::vector<std::unique_ptr<layer>>;
  const float* run_forward(int m, const float* host_x, int rows, int batch_rows);
  void run_backward(int m, const float* dy, float* host_dx);

  kernels::backend& be_;
  stage_range range_;
  bool last_;
  int max_rows_;
  std::vector<stack> stacks_;                  // one per micro-batch, sharing parameters
  std::vector<std::vector<const float*>> xs_;  // per micro-batch: input of each layer
  std::vector<kernels::device_array> inputs_;  // per micro-batch: received activations
  std::vector<int> rows_;                      // per micro-batch
  std::vector<float> scale_;                   // per micro-batch: rows / batch rows
  kernels::device_array params_, grads_, micro_grads_, dy_, dlogits_;
};

}  // namespace troupe
