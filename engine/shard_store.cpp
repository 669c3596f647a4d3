#include "engine/shard_store.hpp"

#include <cmath>
#include <cstring>
#include <string>

namespace troupe {

void shard_store::add_dense(const table_spec& spec, key_range range) {
  dense_slice s;
  s.spec = spec;
  s.range = range;
  s.values.resize(range.size());
  for (std::uint64_t k = range.begin; k < range.end; ++k) {
    s.values[k - range.begin] = initial_value(spec, k);
  }
  s.opt = make_optimizer(spec.optimizer);
  s.state.assign(s.opt->state_slots() * range.size(), 0.0f);
  dense_[spec.id] = std::move(s);
}

status shard_store::apply_push(const push_view& push, push_ack& ack) {
  auto it = dense_.find(push.table);
  if (it == dense_.end()) {
    return {errc::unknown_table,
            "table " + std::to_string(push.table) + " on shard " + std::to_string(id_)};
  }
  auto& s = it->second;
  if (push.sparse) {
    return {errc::wrong_size, "sparse push to dense table '" + s.spec.name + "'"};
  }
  if (push.offset < s.range.begin || push.count > s.range.end - push.offset ||
      push.offset > s.range.end) {
    return {errc::out_of_range, std::to_string(push.count) + " values at offset " +
                                    std::to_string(push.offset) + " exceed the range [" +
                                    std::to_string(s.range.begin) + ", " +
                                    std::to_string(s.range.end) + ") of table '" + s.spec.name +
                                    "' on shard " + std::to_string(id_)};
  }
  if (push.count == 0) {
    return {errc::wrong_size, "empty push to table '" + s.spec.name + "'"};
  }
  for (std::size_t i = 0; i < push.count; ++i) {
    if (!std::isfinite(push.values[i])) {
      return {errc::non_finite, "value " + std::to_string(push.values[i]) + " at key " +
                                    std::to_string(push.offset + i) + " from worker " +
                                    std::to_string(push.worker) + " clock " +
                                    std::to_string(push.clock)};
    }
  }
  auto& last = last_seq_[push.worker];
  ack.seq = push.seq;
  if (push.seq != 0 && push.seq <= last) {
    ack.duplicate = true;
    ack.shard_version = s.version;
    ack.staleness = 0;
    return {};
  }
  if (push.seq != 0) last = push.seq;
  ack.duplicate = false;
  ack.staleness = s.version >= push.pulled_version ? s.version - push.pulled_version : 0;
  const std::size_t at = push.offset - s.range.begin;
  const std::size_t stride = s.range.size();
  float* state = s.state.empty() ? nullptr : s.state.data() + at;
  s.opt->apply(s.values.data() + at, push.values, push.count, state, stride, s.version + 1);
  ++s.version;
  ack.shard_version = s.version;
  return {};
}

status shard_store::read_pull(const pull_request_view& pull, bytes& reply) const {
  auto it = dense_.find(pull.table);
  if (it == dense_.end()) {
    return {errc::unknown_table,
            "table " + std::to_string(pull.table) + " on shard " + std::to_string(id_)};
  }
  const auto& s = it->second;
  if (pull.sparse) return {errc::wrong_size, "sparse pull from dense table '" + s.spec.name + "'"};
  if (pull.offset < s.range.begin || pull.offset > s.range.end ||
      pull.count > s.range.end - pull.offset) {
    return {errc::out_of_range, std::to_string(pull.count) + " keys at offset " +
                                    std::to_string(pull.offset) + " exceed the range [" +
                                    std::to_string(s.range.begin) + ", " +
                                    std::to_string(s.range.end) + ") of table '" + s.spec.name +
                                    "'"};
  }
  auto w = pull_reply_writer::dense(pull.table, s.version, pull.offset, pull.count);
  std::memcpy(w.values(), s.values.data() + (pull.offset - s.range.begin),
              pull.count * sizeof(float));
  reply = std::move(w).finish();
  return {};
}

std::uint64_t shard_store::version(std::uint32_t table) const {
  auto it = dense_.find(table);
  return it == dense_.end() ? 0 : it->second.version;
}

std::uint64_t shard_store::total_version() const {
  std::uint64_t v = 0;
  for (const auto& [id, s] : dense_) v += s.version;
  return v;
}

const std::vector<float>* shard_store::dense_values(std::uint32_t table) const {
  auto it = dense_.find(table);
  return it == dense_.end() ? nullptr : &it->second.values;
}

key_range shard_store::dense_range(std::uint32_t table) const {
  auto it = dense_.find(table);
  return it == dense_.end() ? key_range{} : it->second.range;
}

}  // namespace troupe
