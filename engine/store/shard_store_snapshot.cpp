// shard_store's snapshots: a deep copy of everything it holds, and a
// restore that checks a snapshot before replacing anything.
#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>

#include "engine/store/shard_store.hpp"

namespace troupe {

namespace {

// Deep copies of a table's slice (the slice types are the store's own).
template <class DenseSlice>
dense_slice_snapshot dense_copy(const DenseSlice& s) {
  return {s.spec, s.range, s.values, s.state, s.version, s.steps};
}

template <class SparseSlice>
sparse_slice_snapshot sparse_copy(const SparseSlice& s) {
  sparse_slice_snapshot snap{s.spec, s.shards, {}, s.values, s.state, s.steps, s.version};
  snap.keys.resize(s.steps.size());
  for (const auto& [key, slot] : s.index) snap.keys[slot] = key;
  return snap;
}

}  // namespace

shard_snapshot shard_store::snapshot() const {
  shard_snapshot out;
  out.shard_id = id_;
  for (const auto& [id, s] : dense_) out.dense.push_back(dense_copy(s));
  for (const auto& [id, s] : sparse_) out.sparse.push_back(sparse_copy(s));
  out.last_seq.reserve(last_seq_.size());
  for (const auto& [worker, sender] : last_seq_) {
    out.last_seq.emplace_back(worker, sender.seq);
    if (sender.in_order) out.in_order.push_back(worker);
  }
  std::sort(out.last_seq.begin(), out.last_seq.end());
  std::sort(out.in_order.begin(), out.in_order.end());
  return out;
}

shard_snapshot shard_store::snapshot_table(std::uint32_t table) const {
  shard_snapshot out;
  out.shard_id = id_;
  if (const auto it = dense_.find(table); it != dense_.end()) {
    out.dense.push_back(dense_copy(it->second));
  }
  if (const auto it = sparse_.find(table); it != sparse_.end()) {
    out.sparse.push_back(sparse_copy(it->second));
  }
  return out;
}

void replace_table(shard_snapshot& into, shard_snapshot&& from, std::uint32_t table) {
  const auto move_slices = [table](auto& to, auto& source) {
    const auto of_table = [table](const auto& slice) { return slice.spec.id == table; };
    to.erase(std::remove_if(to.begin(), to.end(), of_table), to.end());
    for (auto& slice : source) {
      if (of_table(slice)) to.push_back(std::move(slice));
    }
    std::stable_sort(to.begin(), to.end(),
                     [](const auto& a, const auto& b) { return a.spec.id < b.spec.id; });
  };
  move_slices(into.dense, from.dense);
  move_slices(into.sparse, from.sparse);
}

status shard_store::restore(const shard_snapshot& snap) {
  return restore(shard_snapshot(snap));
}

namespace {

std::string table_label(const table_spec& spec) {
  return "table " + std::to_string(spec.id) + " ('" + spec.name + "')";
}

status make_checked_optimizer(const table_spec& spec, std::unique_ptr<optimizer>& out) {
  try {
    out = make_optimizer(spec.optimizer);
  } catch (const std::invalid_argument& e) {
    return {errc::bad_config, table_label(spec) + ": " + e.what()};
  }
  return {};
}

status check_size(const table_spec& spec, const char* what, std::size_t got, std::size_t want) {
  if (got == want) return {};
  return {errc::wrong_size, table_label(spec) + ": snapshot holds " + std::to_string(got) + " " +
                                what + ", expected " + std::to_string(want)};
}

// What a dense and a sparse slice take alike from their part of a snapshot:
// values, optimizer state, step counts and version, under `spec` (the
// table's live one where the shard has it).
template <class Slice, class Part>
void adopt(Slice& s, Part& part, table_spec spec) {
  s.spec = std::move(spec);
  s.rule = update_rule(s.spec.update);
  s.values = std::move(part.values);
  s.state = std::move(part.state);
  s.steps = std::move(part.steps);
  s.version = part.version;
}

}  // namespace

status check_layout(const shard_snapshot& snap, const std::vector<slice_layout>& layout) {
  const auto other = std::string(": a checkpoint of another model, optimizer or number of shards");
  auto find = [&](const table_spec& of, table_kind kind) -> const slice_layout* {
    for (const auto& l : layout) {
      if (l.spec.id == of.id && l.spec.kind == kind) return &l;
    }
    return nullptr;
  };
  auto same_optimizer = [&](const table_spec& got, const table_spec& want) -> status {
    if (got.optimizer.kind == want.optimizer.kind) return {};
    return {errc::bad_config, table_label(want) + ": the snapshot was trained with " +
                                  to_string(got.optimizer.kind) + ", this job uses " +
                                  to_string(want.optimizer.kind) + other};
  };
  for (const auto& d : snap.dense) {
    const auto* live = find(d.spec, table_kind::dense);
    if (live == nullptr) {
      return {errc::bad_config, "the snapshot holds dense " + table_label(d.spec) +
                                    ", which this shard does not have" + other};
    }
    if (d.spec.size != live->spec.size || d.range.begin != live->range.begin ||
        d.range.end != live->range.end) {
      return {errc::bad_config,
              table_label(live->spec) + ": the snapshot holds keys [" +
                  std::to_string(d.range.begin) + ", " + std::to_string(d.range.end) + ") of " +
                  std::to_string(d.spec.size) + ", this shard owns [" +
                  std::to_string(live->range.begin) + ", " + std::to_string(live->range.end) +
                  ") of " + std::to_string(live->spec.size) + other};
    }
    if (auto st = same_optimizer(d.spec, live->spec); !st) return st;
  }
  for (const auto& p : snap.sparse) {
    const auto* live = find(p.spec, table_kind::sparse);
    if (live == nullptr) {
      return {errc::bad_config, "the snapshot holds sparse " + table_label(p.spec) +
                                    ", which this shard does not have" + other};
    }
    if (p.spec.width != live->spec.width || p.shards != live->shards) {
      return {errc::bad_config, table_label(live->spec) + ": the snapshot holds rows of " +
                                    std::to_string(p.spec.width) + " over " +
                                    std::to_string(p.shards) + " shards, this job's are " +
                                    std::to_string(live->spec.width) + " over " +
                                    std::to_string(live->shards) + other};
    }
    if (auto st = same_optimizer(p.spec, live->spec); !st) return st;
  }
  if (snap.dense.size() + snap.sparse.size() != layout.size()) {
    return {errc::bad_config, "the snapshot holds " +
                                  std::to_string(snap.dense.size() + snap.sparse.size()) +
                                  " tables, this shard " + std::to_string(layout.size()) + other};
  }
  return {};
}

std::vector<slice_layout> shard_store::layout() const {
  std::vector<slice_layout> out;
  for (const auto& [id, d] : dense_) out.push_back({d.spec, d.range, 1});
  for (const auto& [id, p] : sparse_) out.push_back({p.spec, {}, p.shards});
  return out;
}

// Everything is checked and built aside first, so a bad snapshot leaves the
// store serving what it had.
status shard_store::restore(shard_snapshot&& snap) {
  if (snap.shard_id != id_) {
    return {errc::out_of_range, "snapshot of shard " + std::to_string(snap.shard_id) +
                                    " cannot restore shard " + std::to_string(id_)};
  }
  std::map<std::uint32_t, dense_slice> dense;
  std::map<std::uint32_t, sparse_slice> sparse;
  // A shard made for a job's tables takes only a snapshot of those tables,
  // laid out alike: one of another model or number of shards would train
  // on silently, mixing two models. It keeps its own specs (the job's
  // learning rate, update rule, row bounds): the snapshot gives the values
  // and the optimizer state, whose layout is the optimizer's kind.
  const bool has_tables = !dense_.empty() || !sparse_.empty();
  if (has_tables) {
    if (auto st = check_layout(snap, layout()); !st) return st;
  }
  auto live_spec = [&](const table_spec& of) {
    if (auto d = dense_.find(of.id); d != dense_.end()) return d->second.spec;
    if (auto p = sparse_.find(of.id); p != sparse_.end()) return p->second.spec;
    return of;
  };
  auto taken = [&](std::uint32_t t) { return dense.count(t) > 0 || sparse.count(t) > 0; };
  for (auto& d : snap.dense) {
    if (d.spec.kind != table_kind::dense || taken(d.spec.id)) {
      return {errc::bad_config, table_label(d.spec) + " is not dense or appears twice"};
    }
    d.spec = live_spec(d.spec);
    if (d.range.begin > d.range.end || d.range.end > d.spec.size) {
      return {errc::out_of_range, table_label(d.spec) + ": range [" +
                                      std::to_string(d.range.begin) + ", " +
                                      std::to_string(d.range.end) + ") is not within its " +
                                      std::to_string(d.spec.size) + " keys"};
    }
    dense_slice s;
    if (auto st = make_checked_optimizer(d.spec, s.opt); !st) return st;
    const std::size_t n = d.range.size();
    if (auto st = check_size(d.spec, "values", d.values.size(), n); !st) return st;
    const std::size_t state_floats = s.opt->state_slots() * n;
    if (auto st = check_size(d.spec, "state floats", d.state.size(), state_floats); !st) return st;
    const std::size_t counts = s.opt->uses_step() ? n : 0;
    if (auto st = check_size(d.spec, "step counts", d.steps.size(), counts); !st) return st;
    const std::uint32_t t = d.spec.id;
    adopt(s, d, d.spec);
    s.range = d.range;
    dense.emplace(t, std::move(s));
  }
  for (auto& p : snap.sparse) {
    if (p.spec.kind != table_kind::sparse || taken(p.spec.id)) {
      return {errc::bad_config, table_label(p.spec) + " is not sparse or appears twice"};
    }
    p.spec = live_spec(p.spec);
    if (p.spec.width == 0 || p.shards == 0) {
      return {errc::wrong_size, table_label(p.spec) + ": width and shard count must be positive"};
    }
    sparse_slice s;
    if (auto st = make_checked_optimizer(p.spec, s.opt); !st) return st;
    const std::size_t rows = p.keys.size(), w = p.spec.width;
    if (auto st = check_size(p.spec, "values", p.values.size(), rows * w); !st) return st;
    const std::size_t state_floats = rows * s.opt->state_slots() * w;
    if (auto st = check_size(p.spec, "state floats", p.state.size(), state_floats); !st) return st;
    if (auto st = check_size(p.spec, "step counts", p.steps.size(), rows); !st) return st;
    for (std::size_t r = 0; r < rows; ++r) {
      const std::uint64_t key = p.keys[r];
      if (shard_of_row(key, p.shards) != id_) {
        return {errc::out_of_range, table_label(p.spec) + ": row " + std::to_string(key) +
                                        " belongs to shard " +
                                        std::to_string(shard_of_row(key, p.shards))};
      }
      if (!s.index.try_emplace(key, static_cast<std::uint32_t>(r)).second) {
        return {errc::bad_config, table_label(p.spec) + ": row " + std::to_string(key) + " twice"};
      }
    }
    const std::uint32_t t = p.spec.id;
    adopt(s, p, p.spec);
    s.shards = p.shards;
    if (s.spec.max_rows > 0) {
      s.slot_keys = p.keys;
      s.last_touch.assign(rows, 0);
    }
    sparse.emplace(t, std::move(s));
  }
  std::unordered_map<std::uint32_t, sender_seq> last_seq;
  for (const auto& [worker, seq] : snap.last_seq) {
    if (!last_seq.emplace(worker, sender_seq{seq, 0, false}).second) {
      return {errc::bad_config, "worker " + std::to_string(worker) + " has two last push seqs"};
    }
  }
  for (std::size_t i = 0; i < snap.in_order.size(); ++i) {
    const auto worker = snap.in_order[i];
    if (i > 0 && worker <= snap.in_order[i - 1]) {
      return {errc::bad_config,
              "in-order workers are not strictly ascending at worker " + std::to_string(worker)};
    }
    const auto it = last_seq.find(worker);
    if (it == last_seq.end()) {
      return {errc::bad_config,
              "worker " + std::to_string(worker) + " pushes in order but has no last push seq"};
    }
    it->second.in_order = true;
  }
  dense_ = std::move(dense);
  sparse_ = std::move(sparse);
  last_seq_ = std::move(last_seq);
  counts_incomplete_ = true;
  return {};
}

}  // namespace troupe
