#pragma once
// What a parameter shard holds and does, without any actor around it: the
// key ranges of dense tables it owns with their optimizer state, push
// validation and application, pull replies, and per-worker sequence numbers
// that make retried pushes idempotent.
//
//   shard_store store(0);
//   store.add_dense(spec, {0, 1000});
//   push_view push; decode_push(bytes, push);
//   push_ack ack;
//   if (auto st = store.apply_push(push, ack); !st) log(st.to_string());

#include <cstdint>
#include <map>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "engine/errors.hpp"
#include "engine/store/key_list_cache.hpp"
#include "engine/store/optimizer.hpp"
#include "engine/store/partitioner.hpp"
#include "engine/store/pulled_values.hpp"
#include "engine/store/table.hpp"
#include "engine/store/update_rule.hpp"
#include "engine/wire/wire_codec.hpp"

namespace troupe {

/// One dense key range as a shard held it (see shard_store::snapshot).
struct dense_slice_snapshot {
  table_spec spec;
  key_range range;
  std::vector<float> values;  ///< range.size() floats, key range.begin first
  std::vector<float> state;   ///< optimizer state: slot j of key i at j * range.size() + i
  std::uint64_t version = 0;  ///< pushes applied to the range
  /// Updates applied to each key, key range.begin first, when the optimizer
  /// uses a step count (Adam's bias correction); empty otherwise.
  std::vector<std::uint32_t> steps;
};

/// The rows of a sparse table a shard held, in slot (creation) order.
struct sparse_slice_snapshot {
  table_spec spec;
  std::uint32_t shards = 1;          ///< shard count the row ids are hashed over
  std::vector<std::uint64_t> keys;   ///< row ids, slot order
  std::vector<float> values;         ///< keys.size() * width floats, row after row
  std::vector<float> state;          ///< per row: state_slots * width floats, row after row
  std::vector<std::uint64_t> steps;  ///< updates applied to each row (Adam's bias correction)
  std::uint64_t version = 0;         ///< pushes applied to the table
};

/// Everything that brings a shard back exactly: values, optimizer state,
/// versions, and each worker's last push seq, so that a push retried across
/// a restore is still acknowledged as a duplicate instead of applied twice.
struct shard_snapshot {
  std::uint32_t shard_id = 0;
  std::vector<dense_slice_snapshot> dense;                        ///< ordered by table id
  std::vector<sparse_slice_snapshot> sparse;                      ///< ordered by table id
  std::vector<std::pair<std::uint32_t, std::uint64_t>> last_seq;  ///< (worker, seq) by worker
  std::vector<std::uint32_t> in_order;  ///< senders of last_seq that push in order, ascending
};

/// Puts the slices of table `table` in `from` in place of those in `into`:
/// a snapshot whose tables were each taken as a pull of them read them.
void replace_table(shard_snapshot& into, shard_snapshot&& from, std::uint32_t table);

/// One table slice a shard owns, as a snapshot of it must be laid out.
struct slice_layout {
  table_spec spec;
  key_range range;           ///< dense: the keys owned
  std::uint32_t shards = 1;  ///< sparse: the shard count rows are hashed over
};

/// Whether `snap` holds exactly the slices `layout`: the same table ids,
/// kinds, sizes and dense key ranges, sparse widths and shard counts,
/// optimizer kinds. An error naming the first difference: a checkpoint of
/// another model, optimizer or number of shards.
status check_layout(const shard_snapshot& snap, const std::vector<slice_layout>& layout);

class shard_store {
 public:
  explicit shard_store(std::uint32_t shard_id) : id_(shard_id) {}

  std::uint32_t id() const { return id_; }

  /// Takes ownership of keys `range` of dense table `spec`, initialised from
  /// the spec's deterministic initialiser.
  void add_dense(const table_spec& spec, key_range range);
  /// Serves the rows of sparse table `spec` that hash to this shard out of
  /// `shards` (see shard_of_row); rows are created on first touch.
  void add_sparse(const table_spec& spec, std::uint32_t shards);

  /// Validates and applies a decoded push. On success fills `ack`; a push
  /// whose seq was seen before is acknowledged as a duplicate and not
  /// applied. On error nothing changes. `trust_checked`: the caller knows
  /// the push comes from this process, so its `checked_finite` (the sender
  /// scanned its values) spares the scan here; never for another process's.
  status apply_push(const push_view& push, push_ack& ack, bool trust_checked = false);

  /// Answers a decoded pull with a PullReply message (creating sparse rows
  /// on first touch). A dense reply is built in `into` when given and it
  /// fits (into->used says its size, `reply` stays empty).
  status read_pull(const pull_request_view& pull, bytes& reply, reply_buffer* into = nullptr);

  /// Key caching (KeyList in schemas/troupe.capnp): fills in the row ids of
  /// a sparse push or pull that came by name from the lists this shard
  /// holds (unknown_key_list if it holds none by that name: the sender then
  /// sends them in full), or remembers ids that came in full with a name.
  /// `keys_omitted` stays as it came. Call it before apply_push / read_pull.
  status complete_keys(push_view& push);
  status complete_keys(pull_request_view& pull);
  const key_list_cache& key_lists() const { return key_lists_; }

  /// Version (pushes applied) of a table; 0 for unknown tables.
  std::uint64_t version(std::uint32_t table) const;
  std::uint64_t total_version() const;
  /// The values of the owned range of a dense table (for tests and checkpoints).
  const std::vector<float>* dense_values(std::uint32_t table) const;
  key_range dense_range(std::uint32_t table) const;
  /// Rows held by a sparse table and the bytes each costs (values and
  /// optimizer state, plus index overhead).
  std::size_t sparse_rows(std::uint32_t table) const;
  std::size_t bytes_per_row(std::uint32_t table) const;
  /// Rows a bounded table has evicted so far.
  std::uint64_t evicted_rows(std::uint32_t table) const;
  /// Values of one sparse row, or nullptr when absent.
  const float* sparse_row(std::uint32_t table, std::uint64_t key) const;
  /// Delay compensation (update rule dcasgd): pushes applied without it
  /// because the values their worker pulled were not remembered (e.g. a pull
  /// from before a restore), and the bytes of pulled values kept.
  std::uint64_t uncompensated_pushes(std::uint32_t table) const;
  std::size_t pulled_bytes(std::uint32_t table) const;
  /// Row ids a sparse table keeps of its workers' last requests (a lookup
  /// cache: a step's push finds the rows its pull resolved, and a request
  /// for the same rows as the last one finds them too).
  std::size_t cached_row_ids(std::uint32_t table) const;
  /// How many workers' rows that cache holds.
  std::size_t cached_lookups(std::uint32_t table) const;

  /// A deep copy of everything the shard holds (for checkpoints and for
  /// seeding a replacement replica).
  ///
  ///   auto snap = store.snapshot();
  ///   shard_store copy(store.id());
  ///   if (auto st = copy.restore(snap); !st) log(st.to_string());
  shard_snapshot snapshot() const;
  /// The slices of one table only (no sequence numbers): see replace_table.
  shard_snapshot snapshot_table(std::uint32_t table) const;
  /// Replaces the store's contents with `snap` after checking it is
  /// consistent: shard id, sizes against ranges, widths and optimizer state,
  /// rows that hash to this shard, no table twice; and, when this store was
  /// given tables, that the snapshot's are these (check_layout), which keep
  /// their own specs (learning rate, update rule, row bounds). On error
  /// nothing changes.
  status restore(const shard_snapshot& snap);
  /// As above, moving the snapshot's buffers in instead of copying them
  /// (after an error the snapshot may be left partly moved from).
  status restore(shard_snapshot&& snap);
  /// The slices this store owns (for check_layout).
  std::vector<slice_layout> layout() const;
  /// Forgets every worker's push sequence numbers: the workers of a resumed
  /// job restart their counters, and their pushes must not look like retries.
  void forget_sequences() { last_seq_.clear(); }
  /// How many senders' push seqs are kept for retries (at most
  /// max_tracked_senders).
  std::size_t tracked_senders() const { return last_seq_.size(); }
  static constexpr std::size_t max_tracked_senders = std::size_t{1} << 16;
  /// The state came from a checkpoint, which lacks the pushes since: each
  /// worker's next in-order push may skip seqs once (see PushRequest.inOrder).
  void allow_resync() {
    resync_ = true;
    resynced_.clear();
  }
  /// Whether some worker may still skip seqs once (a backup made from this
  /// store's snapshot must allow it too).
  bool resync_pending() const {
    if (!resync_) return false;
    for (const auto& [worker, sender] : last_seq_) {
      if (resynced_.count(worker) == 0) return true;
    }
    return false;
  }

 private:
  struct dense_slice {
    table_spec spec;
    key_range range;
    std::vector<float> values;
    std::vector<float> state;
    // Updates per key, only when opt->uses_step() (4 bytes a key: an Adam key
    // costs 16 bytes with its value and two moments). Stages of a pipeline
    // push disjoint ranges of one slice in one step, so the slice's version
    // is not any key's step. Saturates at 2^32 - 1, where Adam's bias
    // correction is 1 to float precision anyway.
    std::vector<std::uint32_t> steps;
    std::unique_ptr<optimizer> opt;
    std::uint64_t version = 0;
    update_rule rule;
    dense_pulled_values pulled;  // only when rule.needs_pulled_values()
    std::uint64_t uncompensated = 0;
    void apply(std::size_t at, const float* g, std::size_t n, float lr_scale);
  };

  struct sparse_slice {
    table_spec spec;
    std::uint32_t shards = 1;
    std::unordered_map<std::uint64_t, std::uint32_t> index;  // row id -> slot
    std::vector<float> values;                               // slot-major rows
    std::vector<float> state;                                // slots * width per row
    std::vector<std::uint64_t> steps;                        // updates per row
    std::unique_ptr<optimizer> opt;
    std::uint64_t version = 0;
    update_rule rule;
    sparse_pulled_values pulled;  // only when rule.needs_pulled_values()
    std::uint64_t uncompensated = 0;
    std::uint32_t row_of(std::uint64_t key);  // creates on first touch
    // Per worker, the rows of its last pull or push and their slots: a step
    // pulls and then pushes the same rows, so the second lookup (a cache miss
    // per row in a large table) and ownership check are skipped.
    struct resolved_rows {
      std::vector<std::uint64_t> keys;
      std::vector<std::uint32_t> slots;
    };
    // Only a cache, bounded: all entries go when they would hold more than
    // max_recent_keys row ids or come from max_recent_workers workers
    // (service clients look rows up and leave; each new connection is a new
    // id). An entry outlives its push, so that rows looked up again (a
    // client's hot rows, the push/pull benchmark) are resolved once.
    std::unordered_map<std::uint32_t, resolved_rows> recent;
    std::size_t recent_keys = 0;  // row ids held in `recent`
    static constexpr std::size_t max_recent_keys = std::size_t{1} << 20;
    static constexpr std::size_t max_recent_workers = std::size_t{1} << 16;
    void forget_recent(std::uint32_t worker);
    void clear_recent() {
      recent.clear();
      recent_keys = 0;
    }
    // Bounded tables (spec.max_rows): the key of each slot and when it was
    // last touched (a request counter), to evict the least recently used.
    std::vector<std::uint64_t> slot_keys;
    std::vector<std::uint64_t> last_touch;
    std::uint64_t tick = 0;
    std::uint64_t evicted = 0;
    /// Frees at least `n` slots not touched by the current request.
    void evict(std::size_t n);
  };

  /// Slots of `keys` (rows created on first touch), or an error when a key
  /// belongs to another shard; nothing is created then.
  status resolve(sparse_slice& s, std::uint32_t worker, const std::vector<std::uint64_t>& keys,
                 const std::vector<std::uint32_t>*& slots);
  status apply_sparse(sparse_slice& s, const push_view& push, push_ack& ack, bool scan);
  status complete_keys(std::uint32_t table, bool sparse, const key_list_name& name, bool omitted,
                       std::vector<std::uint64_t>& keys);
  status check_seq(const push_view& push, std::uint64_t version, push_ack& ack, bool& duplicate);
  status check_order(const push_view& push) const;

  std::uint32_t id_;
  std::map<std::uint32_t, dense_slice> dense_;
  std::map<std::uint32_t, sparse_slice> sparse_;
  // The last push seq per sender. A table service gives every connection a
  // new sender id, so the senders that come and go are bounded: past
  // max_tracked_senders, those not heard from longest are forgotten, an
  // in-order one (a job's worker, which could not push again without its
  // count) only when they alone fill the table. Snapshots record which
  // senders push in order, so a restored shard keeps that preference.
  struct sender_seq {
    std::uint64_t seq = 0;
    std::uint64_t heard = 0;  // pushes_heard_ at its last push
    bool in_order = false;
  };
  void forget_quiet_senders(std::uint32_t current);
  std::unordered_map<std::uint32_t, sender_seq> last_seq_;
  std::uint64_t pushes_heard_ = 0;
  // In-order pushes (PushRequest.inOrder): a store that took its state from
  // elsewhere, or had to forget an in-order sender (a peer claiming to be
  // ever new workers filled the table), does not know the count of every
  // worker; it takes one it has no seq of at its word rather than refuse its
  // every push (the worker could never resend the seqs it skipped here).
  // After a checkpoint, each worker may skip seqs once (those in resynced_ did).
  bool counts_incomplete_ = false;
  bool resync_ = false;
  std::unordered_set<std::uint32_t> resynced_;
  std::vector<float> scratch_;  // a push's gradient as its update rule rewrote it
  key_list_cache key_lists_;    // a cache, not state: snapshots leave it out
};

}  // namespace troupe
