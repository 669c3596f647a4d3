#include "engine/wire/exchange_plan.hpp"

#include "engine/store/gradient_scan.hpp"

#include <cstring>
#include <string>

namespace troupe {

bool dense_only(const workload& wl) {
  for (const auto& t : wl.tables()) {
    if (t.kind == table_kind::sparse) return false;
  }
  return true;
}

std::vector<exchange_op> plan_exchange(const workload& wl, std::uint32_t shards) {
  std::vector<exchange_op> ops;
  const auto& tables = wl.tables();
  for (std::size_t t = 0; t < tables.size(); ++t) {
    const auto& spec = tables[t];
    if (spec.kind == table_kind::dense) {
      const auto ranges = dense_ranges(spec.size, shards);
      for (std::uint32_t k = 0; k < shards; ++k) {
        if (ranges[k].size() == 0) continue;
        exchange_op op;
        op.table = t;
        op.table_id = spec.id;
        op.shard = k;
        op.range = ranges[k];
        ops.push_back(std::move(op));
      }
      continue;
    }
    std::vector<exchange_op> per_shard(shards);
    const auto& keys = wl.sparse_keys(t);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      auto& op = per_shard[shard_of_row(keys[i], shards)];
      op.keys.push_back(keys[i]);
      op.index.push_back(static_cast<std::uint32_t>(i));
    }
    for (std::uint32_t k = 0; k < shards; ++k) {
      auto& op = per_shard[k];
      if (op.keys.empty()) continue;
      op.table = t;
      op.table_id = spec.id;
      op.shard = k;
      op.sparse = true;
      op.width = spec.width;
      ops.push_back(std::move(op));
    }
  }
  return ops;
}

bytes encode_pull(const exchange_op& op, std::uint32_t worker, bool accept_shared,
                  std::uint64_t hold_round) {
  if (op.sparse) {
    // The worker knows the ids it asked for: the reply need not repeat them.
    return encode_sparse_pull(op.table_id, worker, op.keys.data(), op.keys.size(), accept_shared,
                              nullptr, true, hold_round);
  }
  return encode_dense_pull(op.table_id, worker, op.range.begin, op.range.size(), accept_shared,
                           hold_round);
}

status accept_pull_reply(const exchange_op& op, const bytes& reply, workload& wl,
                         std::uint64_t& version, bool in_place) {
  return accept_pull_reply(op, reply.data(), reply.size(), wl, version, in_place);
}

status accept_pull_reply(const exchange_op& op, const char* data, std::size_t size, workload& wl,
                         std::uint64_t& version, bool in_place) {
  pull_reply_view view;
  if (auto st = decode_pull_reply(data, size, view); !st) return st;
  if (view.table != op.table_id || view.sparse != op.sparse) {
    return {errc::wrong_size, "pull reply for table " + std::to_string(view.table) +
                                  " does not answer the request for table " +
                                  std::to_string(op.table_id)};
  }
  if (op.sparse) {
    const bool same_rows = view.keys_omitted ? view.rows() == op.keys.size() : view.keys == op.keys;
    if (!same_rows || view.width != op.width) {
      return {errc::wrong_size, "pull reply rows differ from the requested rows"};
    }
    for (std::size_t i = 0; i < op.index.size(); ++i) {
      wl.set_row(op.table, op.index[i], view.values + i * op.width);
    }
  } else {
    if (view.offset != op.range.begin || view.count != op.range.size()) {
      return {errc::wrong_size, "pull reply of " + std::to_string(view.count) + " values at " +
                                    std::to_string(view.offset) + " for a request of " +
                                    std::to_string(op.range.size()) + " at " +
                                    std::to_string(op.range.begin)};
    }
    if (in_place) {
      wl.view_dense(op.table, op.range.begin, view.values, view.count);
    } else {
      wl.set_dense(op.table, op.range.begin, view.values, view.count);
    }
  }
  version = view.shard_version;
  return {};
}

namespace {

push_writer new_push(const exchange_op& op, const push_header& header) {
  if (op.sparse) return push_writer::sparse(header, op.keys.data(), op.keys.size(), op.width);
  return push_writer::dense(header, op.range.begin, op.range.size());
}

}  // namespace

bytes encode_push(const exchange_op& op, const push_header& header, workload& wl) {
  return finish_push(op, {new_push(op, header), false}, wl);
}

push_in_progress begin_push(const exchange_op& op, const push_header& header, workload& wl) {
  push_in_progress push{new_push(op, header), false};
  if (!op.sparse) {
    push.bound =
        wl.bind_dense_grad(op.table, op.range.begin, push.writer.values(), push.writer.count());
  }
  return push;
}

bytes finish_push(const exchange_op& op, push_in_progress push, workload& wl,
                  std::size_t* unusable) {
  auto& msg = push.writer;
  if (op.sparse) {
    const std::size_t bytes_per_row = op.width * sizeof(float);
    for (std::size_t i = 0; i < op.index.size(); ++i) {
      std::memcpy(msg.values() + i * op.width, wl.row_grad(op.table, op.index[i]), bytes_per_row);
    }
  } else if (!push.bound) {
    wl.dense_grad(op.table, op.range.begin, op.range.size(), msg.values());
  }
  if (unusable != nullptr) {
    const auto at = first_unusable(msg.values(), msg.count());
    *unusable = at < msg.count() ? at : no_unusable_value;
    if (*unusable == no_unusable_value) msg.mark_checked_finite();
  }
  return std::move(msg).finish();
}

}  // namespace troupe
