#pragma once
// Which messages one step exchanges with which shard: dense tables are cut
// into one key range per shard; the sparse rows a batch needs are grouped by
// the shard that owns them. Shared by workers (batches) and the evaluator
// (the test set), and free of actors so it can be tested alone.
//
//   auto ops = plan_exchange(*wl, shards);
//   for (auto& op : ops) send(shard[op.shard], encode_pull(op, worker_id));
//   ... accept_pull_reply(op, reply, *wl, version);
//   ... send(shard[op.shard], encode_push(op, header, *wl));

#include <cstdint>
#include <vector>

#include "engine/errors.hpp"
#include "engine/store/partitioner.hpp"
#include "engine/wire/wire_codec.hpp"
#include "engine/workloads/workload.hpp"

namespace troupe {

struct exchange_op {
  std::size_t table = 0;  ///< index into workload::tables()
  std::uint32_t table_id = 0;
  std::uint32_t shard = 0;
  bool sparse = false;
  key_range range;                   ///< dense: the shard's keys of the table
  std::vector<std::uint64_t> keys;   ///< sparse: rows owned by `shard`
  std::vector<std::uint32_t> index;  ///< sparse: their positions in sparse_keys(table)
  std::uint32_t width = 1;           ///< sparse: floats per row
};

/// The shard ranges of a dense table of `size` keys.
inline std::vector<key_range> dense_ranges(std::uint64_t size, std::uint32_t shards) {
  return partition_range(size, shards);
}

/// Whether every table of the workload is dense: each step then exchanges
/// the same ranges, and pushes once to every shard.
bool dense_only(const workload& wl);

/// One op per (table, shard) with something to exchange this step.
std::vector<exchange_op> plan_exchange(const workload& wl, std::uint32_t shards);

/// `hold_round`: see encode_dense_pull (keep_best's evaluator).
bytes encode_pull(const exchange_op& op, std::uint32_t worker, bool accept_shared = false,
                  std::uint64_t hold_round = 0);

/// Checks that `reply` answers `op` and hands its values to the workload;
/// `version` receives the shard's table version. With `in_place`, dense
/// values are offered as views (workload::view_dense): `reply` must then
/// outlive the next train_step.
status accept_pull_reply(const exchange_op& op, const bytes& reply, workload& wl,
                         std::uint64_t& version, bool in_place = false);
/// The same, of a reply in place (a shared-memory slot, say).
status accept_pull_reply(const exchange_op& op, const char* data, std::size_t size, workload& wl,
                         std::uint64_t& version, bool in_place = false);

/// The push of the workload's gradient for `op`, written straight into the
/// message (one copy).
bytes encode_push(const exchange_op& op, const push_header& header, workload& wl);

/// A push built around the step instead: begin_push() before train_step
/// allocates the message and, for a dense op, asks the workload to write its
/// gradient straight into it (no copy at all); finish_push() after the step
/// fills in what the workload did not write and seals it.
struct push_in_progress {
  push_writer writer;
  bool bound = false;  ///< the workload writes the gradient in place
};
push_in_progress begin_push(const exchange_op& op, const push_header& header, workload& wl);
/// finish_push()'s `unusable` when every value is usable.
constexpr std::size_t no_unusable_value = static_cast<std::size_t>(-1);
/// `unusable`, when given, receives the index of the first value that is
/// not finite or beyond the largest gradient a shard applies
/// (engine/store/gradient_scan.hpp), or `no_unusable_value` when none is;
/// only then does the push say it was scanned (PushRequest.checkedFinite).
bytes finish_push(const exchange_op& op, push_in_progress push, workload& wl,
                  std::size_t* unusable = nullptr);

}  // namespace troupe
