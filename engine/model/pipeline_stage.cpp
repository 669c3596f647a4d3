#include "engine/model/pipeline_stage.hpp"

#include <algorithm>
#include <limits>
#include <string>

namespace troupe {

namespace {

std::uint64_t dense_params(const mlp_spec& spec, std::size_t layer) {
  return static_cast<std::uint64_t>(spec.sizes[layer]) * spec.sizes[layer + 1] +
         static_cast<std::uint64_t>(spec.sizes[layer + 1]);
}

// cuts[s] = first layer of stage s; minimises the largest stage (a small
// DP: the model has a handful of layers).
std::vector<std::size_t> balanced_cuts(const std::vector<std::uint64_t>& cost, std::size_t parts) {
  const std::size_t n = cost.size();
  std::vector<std::uint64_t> prefix(n + 1, 0);
  for (std::size_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + cost[i];
  constexpr auto inf = std::numeric_limits<std::uint64_t>::max();
  // best[p][i]: the smallest maximum over p stages covering layers [0, i).
  std::vector<std::vector<std::uint64_t>> best(parts + 1, std::vector<std::uint64_t>(n + 1, inf));
  std::vector<std::vector<std::size_t>> from(parts + 1, std::vector<std::size_t>(n + 1, 0));
  best[0][0] = 0;
  for (std::size_t p = 1; p <= parts; ++p) {
    for (std::size_t i = p; i <= n; ++i) {
      for (std::size_t j = p - 1; j < i; ++j) {
        if (best[p - 1][j] == inf) continue;
        const auto v = std::max(best[p - 1][j], prefix[i] - prefix[j]);
        if (v < best[p][i]) {
          best[p][i] = v;
          from[p][i] = j;
        }
      }
    }
  }
  std::vector<std::size_t> cuts(parts + 1, n);
  for (std::size_t p = parts, i = n; p > 0; --p) {
    cuts[p] = i;
    i = from[p][i];
  }
  cuts[0] = 0;
  return cuts;
}

}  // namespace

std::vector<stage_range> split_mlp(const mlp_spec& spec, std::uint32_t stages) {
  if (spec.sizes.size() < 2) throw troupe_error(errc::bad_config, "an MLP needs 2 layer sizes");
  const std::size_t layers = spec.sizes.size() - 1;
  if (stages == 0 || stages > layers) {
    throw troupe_error(errc::bad_config, "cannot split " + std::to_string(layers) +
                                             " dense layers into " + std::to_string(stages) +
                                             " stages");
  }
  std::vector<std::uint64_t> cost(layers), offset(layers + 1, 0);
  for (std::size_t l = 0; l < layers; ++l) {
    cost[l] = dense_params(spec, l);
    offset[l + 1] = offset[l] + cost[l];
  }
  const auto cuts = balanced_cuts(cost, stages);
  std::vector<stage_range> out;
  for (std::size_t s = 0; s < stages; ++s) {
    stage_range r;
    r.first = static_cast<std::uint32_t>(cuts[s]);
    r.last = static_cast<std::uint32_t>(cuts[s + 1]);
    r.keys = {offset[r.first], offset[r.last]};
    r.in_width = spec.sizes[r.first];
    r.out_width = spec.sizes[r.last];
    out.push_back(r);
  }
  return out;
}

int micro_batch_rows(int batch_rows, int parts, int m, int* offset) {
  const int base = batch_rows / parts, extra = batch_rows % parts;
  if (offset != nullptr) *offset = m * base + std::min(m, extra);
  return base + (m < extra ? 1 : 0);
}

pipeline_stage::pipeline_stage(const mlp_spec& spec, const stage_range& range, kernels::backend& be,
                               int max_micro_rows, int micro_batches)
    : be_(be),
      range_(range),
      last_(range.last + 1 == spec.sizes.size()),
      max_rows_(max_micro_rows) {
  if (max_micro_rows <= 0 || micro_batches <= 0) {
    throw troupe_error(errc::bad_config, "a stage needs positive micro-batch rows and count");
  }
  if (range.first >= range.last || range.last >= spec.sizes.size()) {
    throw troupe_error(errc::bad_config, "stage layer range out of the model");
  }
  const auto n = range.keys.size();
  params_ = be.alloc(n);
  grads_ = be.alloc(n);
  micro_grads_ = be.alloc(n);
  dy_ = be.alloc(static_cast<std::size_t>(max_micro_rows) * range.out_width);
  if (last_) dlogits_ = be.alloc(static_cast<std::size_t>(max_micro_rows) * range.out_width);
  stacks_.resize(static_cast<std::size_t>(micro_batches));
  for (auto& st : stacks_) {
    std::size_t offset = 0;
    for (auto l = range.first; l < range.last; ++l) {
      st.push_back(make_dense_layer(be, spec.sizes[l], spec.sizes[l + 1], max_micro_rows));
      // Every micro-batch's layers read the same parameters; their gradients
      // land in one scratch buffer and are added to grads_ with a weight.
      st.back()->bind(params_.data() + offset, micro_grads_.data() + offset);
      offset += st.back()->num_params();
      if (l + 2 < spec.sizes.size()) {
        st.push_back(make_activation_layer(be, spec.activation, spec.sizes[l + 1], max_micro_rows));
      }
    }
    inputs_.push_back(be.alloc(static_cast<std::size_t>(max_micro_rows) * range.in_width));
  }
  xs_.assign(stacks_.size(), std::vector<const float*>(stacks_[0].size(), nullptr));
  rows_.assign(stacks_.size(), 0);
  scale_.assign(stacks_.size(), 0.0f);
}

void pipeline_stage::begin_step() {
  be_.fill_zero(grads_.data(), grads_.size());
}

const float* pipeline_stage::run_forward(int m, const float* host_x, int rows, int batch_rows) {
  if (m < 0 || m >= micro_batches() || rows <= 0 || rows > max_rows_ || batch_rows < rows) {
    throw troupe_error(errc::wrong_size, "micro-batch " + std::to_string(m) + " of " +
                                             std::to_string(rows) + " rows is out of range");
  }
  const auto i = static_cast<std::size_t>(m);
  rows_[i] = rows;
  scale_[i] = static_cast<float>(rows) / static_cast<float>(batch_rows);
  be_.upload(host_x, static_cast<std::size_t>(rows) * range_.in_width, inputs_[i].data());
  const float* x = inputs_[i].data();
  for (std::size_t l = 0; l < stacks_[i].size(); ++l) {
    xs_[i][l] = x;
    x = stacks_[i][l]->forward(be_, x, rows);
  }
  return x;
}

void pipeline_stage::run_backward(int m, const float* dy, float* host_dx) {
  const auto i = static_cast<std::size_t>(m);
  const int rows = rows_[i];
  auto& st = stacks_[i];
  for (std::size_t l = st.size(); l-- > 0;) {
    dy = st[l]->backward(be_, xs_[i][l], dy, rows, l > 0 || !is_first());
  }
  be_.axpy(grads_.size(), scale_[i], micro_grads_.data(), grads_.data());
  if (!is_first() && host_dx != nullptr) {
    be_.download(dy, static_cast<std::size_t>(rows) * range_.in_width, host_dx);
  }
}

void pipeline_stage::forward(int m, const float* host_x, int rows, int batch_rows,
                             float* host_out) {
  if (last_) throw troupe_error(errc::wrong_size, "the last stage runs forward_backward");
  const float* y = run_forward(m, host_x, rows, batch_rows);
  be_.download(y, static_cast<std::size_t>(rows) * range_.out_width, host_out);
}

kernels::xent_result pipeline_stage::forward_backward(int m, const float* host_x,
                                                      const std::int32_t* labels, int rows,
                                                      int batch_rows, float* host_dx) {
  if (!last_) throw troupe_error(errc::wrong_size, "only the last stage computes the loss");
  const float* logits = run_forward(m, host_x, rows, batch_rows);
  auto r = be_.softmax_xent(rows, range_.out_width, logits, labels, dlogits_.data());
  run_backward(m, dlogits_.data(), host_dx);
  return r;
}

void pipeline_stage::backward(int m, const float* host_dy, float* host_dx) {
  if (m < 0 || m >= micro_batches() || rows_[static_cast<std::size_t>(m)] == 0) {
    throw troupe_error(errc::wrong_size,
                       "backward of micro-batch " + std::to_string(m) + " without its forward");
  }
  const int rows = rows_[static_cast<std::size_t>(m)];
  be_.upload(host_dy, static_cast<std::size_t>(rows) * range_.out_width, dy_.data());
  run_backward(m, dy_.data(), host_dx);
}

std::vector<stage_exchange> pipeline_stage::plan(std::uint64_t table_size,
                                                 std::uint32_t shards) const {
  std::vector<stage_exchange> out;
  const auto ranges = partition_range(table_size, shards);
  for (std::uint32_t k = 0; k < ranges.size(); ++k) {
    const auto begin = std::max(ranges[k].begin, range_.keys.begin);
    const auto end = std::min(ranges[k].end, range_.keys.end);
    if (begin < end) out.push_back({k, {begin, end}});
  }
  return out;
}

status pipeline_stage::accept_pull(const stage_exchange& ex, std::uint32_t table,
                                   const bytes& reply, std::uint64_t& version) {
  pull_reply_view view;
  if (auto st = decode_pull_reply(reply, view); !st) return st;
  if (view.table != table || view.sparse || view.offset != ex.keys.begin ||
      view.count != ex.keys.size()) {
    return {errc::wrong_size, "pull reply (table " + std::to_string(view.table) + ", " +
                                  std::to_string(view.count) + " values at " +
                                  std::to_string(view.offset) + ") does not answer the request"};
  }
  be_.upload(view.values, view.count, params_.data() + (ex.keys.begin - range_.keys.begin));
  version = view.shard_version;
  return {};
}

bytes pipeline_stage::encode_push(const stage_exchange& ex, const push_header& header) {
  auto w = push_writer::dense(header, ex.keys.begin, ex.keys.size());
  be_.download(grads_.data() + (ex.keys.begin - range_.keys.begin), ex.keys.size(), w.values());
  return std::move(w).finish();
}

}  // namespace troupe
