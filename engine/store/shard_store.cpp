#include "engine/store/shard_store.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <tuple>

#include "engine/store/gradient_scan.hpp"

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
  s.rule = update_rule(spec.update);
  s.state.assign(s.opt->state_slots() * range.size(), 0.0f);
  if (s.opt->uses_step()) s.steps.assign(range.size(), 0);
  dense_[spec.id] = std::move(s);
}

namespace {

// How many counts from the first on equal it. Compared a block at a time so
// that the compiler vectorises the common case (one run through the push).
std::size_t run_length(const std::uint32_t* count, std::size_t n) {
  constexpr std::size_t block = 64;
  const std::uint32_t c = count[0];
  std::size_t i = 0;
  for (; i + block <= n; i += block) {
    std::uint32_t differ = 0;
    for (std::size_t k = 0; k < block; ++k) differ |= count[i + k] ^ c;
    if (differ != 0) break;
  }
  while (i < n && count[i] == c) ++i;
  return i;
}

}  // namespace

// Keys of one push normally share their update count, so this is one
// optimizer call; ranges that overlapped earlier pushes only partly split it
// into one call per run of equal counts.
void shard_store::dense_slice::apply(std::size_t at, const float* g, std::size_t n,
                                     float lr_scale) {
  const std::size_t stride = range.size();
  float* st = state.empty() ? nullptr : state.data() + at;
  if (steps.empty()) {
    opt->apply(values.data() + at, g, n, st, stride, version + 1, lr_scale);
    return;
  }
  std::uint32_t* count = steps.data() + at;
  for (std::size_t i = 0; i < n;) {
    const std::uint32_t c = count[i];
    const std::size_t j = i + run_length(count + i, n - i);
    opt->apply(values.data() + at + i, g + i, j - i, st ? st + i : nullptr, stride,
               std::uint64_t{c} + 1, lr_scale);
    if (c != std::numeric_limits<std::uint32_t>::max()) std::fill(count + i, count + j, c + 1);
    i = j;
  }
}

void shard_store::add_sparse(const table_spec& spec, std::uint32_t shards) {
  sparse_slice s;
  s.spec = spec;
  s.shards = shards == 0 ? 1 : shards;
  s.opt = make_optimizer(spec.optimizer);
  s.rule = update_rule(spec.update);
  sparse_[spec.id] = std::move(s);
}

std::uint32_t shard_store::sparse_slice::row_of(std::uint64_t key) {
  auto [it, inserted] = index.try_emplace(key, static_cast<std::uint32_t>(steps.size()));
  if (spec.max_rows > 0) {
    if (inserted) {
      slot_keys.push_back(key);
      last_touch.push_back(tick);
    } else {
      last_touch[it->second] = tick;
    }
  }
  if (inserted) {
    const std::uint32_t w = spec.width;
    for (std::uint32_t c = 0; c < w; ++c) values.push_back(initial_row_value(spec, key, c));
    state.resize(state.size() + opt->state_slots() * w, 0.0f);
    steps.push_back(0);
  }
  return it->second;
}

namespace {

// `values`: the push's own, or (`what` says so) as its update rule rewrote them.
status check_finite(const push_view& push, const float* values, const char* what = "") {
  const auto i = first_unusable(values, push.count);
  if (i == push.count) return {};
  return {errc::non_finite, std::string(what) + "value " + describe_unusable(values[i]) +
                                " at position " + std::to_string(i) + " from worker " +
                                std::to_string(push.worker) + " clock " +
                                std::to_string(push.clock)};
}

status check_finite(const push_view& push) {
  return check_finite(push, push.values);
}

std::uint64_t observed_staleness(std::uint64_t version, const push_view& push) {
  return version >= push.pulled_version ? version - push.pulled_version : 0;
}

}  // namespace

// An in-order push may not skip a seq: one sent behind a push this shard
// refused (or that is still on its way) would otherwise be applied first,
// and the refused one, sent again, taken for a retry and dropped.
status shard_store::check_order(const push_view& push) const {
  if (!push.in_order || push.seq == 0) return {};
  const auto it = last_seq_.find(push.worker);
  const bool known = it != last_seq_.end();
  const std::uint64_t last = known ? it->second.seq : 0;
  if (push.seq <= last + 1) return {};
  if (resync_ && resynced_.count(push.worker) == 0) return {};  // first since a checkpoint
  if (!known && counts_incomplete_) return {};  // not in the state we took, or forgotten
  return {errc::out_of_order, "push seq " + std::to_string(push.seq) + " of worker " +
                                  std::to_string(push.worker) + " skips seq " +
                                  std::to_string(last + 1) + ", which shard " +
                                  std::to_string(id_) + " has not applied: send again from there"};
}

// Sequence numbers per worker make a retried push idempotent.
status shard_store::check_seq(const push_view& push, std::uint64_t version, push_ack& ack,
                              bool& duplicate) {
  auto& sender = last_seq_[push.worker];
  sender.heard = ++pushes_heard_;
  sender.in_order |= push.in_order;
  ack.seq = push.seq;
  duplicate = push.seq != 0 && push.seq <= sender.seq;
  ack.duplicate = duplicate;
  if (duplicate) {
    ack.shard_version = version;
    ack.staleness = 0;
    return {};
  }
  if (push.seq != 0) sender.seq = push.seq;
  if (push.in_order && resync_) resynced_.insert(push.worker);
  ack.staleness = observed_staleness(version, push);
  if (last_seq_.size() > max_tracked_senders) forget_quiet_senders(push.worker);
  return {};
}

// Forgets an eighth of the senders at a time, those heard from longest ago,
// so that a stream of new clients pays the selection once per many pushes.
// A forgotten client's retry would be applied again; a retry comes within
// its call's timeout, long before the ~57,000 newer senders it takes.
// In-order senders go only when they fill the table (a peer claiming to be
// ever new workers); `current`, whose push is being applied, never.
void shard_store::forget_quiet_senders(std::uint32_t current) {
  // Ordered by (in order, heard): every other sender before any in-order one.
  std::vector<std::tuple<bool, std::uint64_t, std::uint32_t>> senders;
  senders.reserve(last_seq_.size());
  for (const auto& [worker, sender] : last_seq_) {
    if (worker != current) senders.emplace_back(sender.in_order, sender.heard, worker);
  }
  const std::size_t n = std::min(max_tracked_senders / 8, senders.size());
  if (n == 0) return;
  std::nth_element(senders.begin(), senders.begin() + static_cast<std::ptrdiff_t>(n - 1),
                   senders.end());
  for (std::size_t i = 0; i < n; ++i) {
    counts_incomplete_ |= std::get<0>(senders[i]);
    last_seq_.erase(std::get<2>(senders[i]));
  }
}

void shard_store::sparse_slice::evict(std::size_t n) {
  // Evict an eighth of the table at a time so that a stream of new rows
  // pays the selection once per many insertions.
  const std::size_t rows = steps.size();
  n = std::max<std::size_t>(n, static_cast<std::size_t>(spec.max_rows / 8));
  std::vector<std::uint32_t> candidates;
  for (std::uint32_t r = 0; r < rows; ++r) {
    if (last_touch[r] < tick) candidates.push_back(r);
  }
  n = std::min(n, candidates.size());
  std::nth_element(candidates.begin(), candidates.begin() + static_cast<long>(n), candidates.end(),
                   [&](std::uint32_t a, std::uint32_t b) { return last_touch[a] < last_touch[b]; });
  candidates.resize(n);
  // From the highest slot down: the last slot is then never one still to free.
  std::sort(candidates.rbegin(), candidates.rend());
  const std::size_t w = spec.width, slots = opt->state_slots() * spec.width;
  for (const auto freed : candidates) {
    index.erase(slot_keys[freed]);
    const std::size_t last = steps.size() - 1;
    if (freed != last) {
      std::copy_n(values.begin() + static_cast<long>(last * w), w,
                  values.begin() + static_cast<long>(freed * w));
      std::copy_n(state.begin() + static_cast<long>(last * slots), slots,
                  state.begin() + static_cast<long>(freed * slots));
      steps[freed] = steps[last];
      last_touch[freed] = last_touch[last];
      slot_keys[freed] = slot_keys[last];
      index[slot_keys[freed]] = freed;
    }
    values.resize(last * w);
    state.resize(last * slots);
    steps.pop_back();
    last_touch.pop_back();
    slot_keys.pop_back();
  }
  evicted += n;
  clear_recent();  // cached slots may have moved
}

void shard_store::sparse_slice::forget_recent(std::uint32_t worker) {
  if (auto it = recent.find(worker); it != recent.end()) {
    recent_keys -= it->second.keys.size();
    recent.erase(it);
  }
}

status shard_store::resolve(sparse_slice& s, std::uint32_t worker,
                            const std::vector<std::uint64_t>& keys,
                            const std::vector<std::uint32_t>*& slots) {
  if (auto hit = s.recent.find(worker);
      hit != s.recent.end() && hit->second.keys.size() == keys.size() && !keys.empty() &&
      std::memcmp(hit->second.keys.data(), keys.data(), keys.size() * sizeof(std::uint64_t)) == 0) {
    const auto& c = hit->second;
    if (s.spec.max_rows > 0) {
      ++s.tick;
      for (auto slot : c.slots) s.last_touch[slot] = s.tick;
    }
    slots = &c.slots;
    return {};
  }
  for (auto key : keys) {
    if (s.spec.max_row_id > 0 && key >= s.spec.max_row_id) {
      return {errc::out_of_range, "row " + std::to_string(key) + " outside table '" + s.spec.name +
                                      "' of " + std::to_string(s.spec.max_row_id) + " row ids"};
    }
    if (shard_of_row(key, s.shards) != id_) {
      return {errc::out_of_range,
              "row " + std::to_string(key) + " of table '" + s.spec.name + "' belongs to shard " +
                  std::to_string(shard_of_row(key, s.shards)) + ", not " + std::to_string(id_)};
    }
  }
  if (s.spec.max_rows > 0) {
    if (keys.size() > s.spec.max_rows) {
      return {errc::wrong_size, std::to_string(keys.size()) + " rows in one request, but table '" +
                                    s.spec.name + "' holds at most " +
                                    std::to_string(s.spec.max_rows) + " per shard"};
    }
    // This request's rows are "now": they must survive any eviction it causes.
    ++s.tick;
    std::size_t fresh = 0;
    for (auto key : keys) {
      auto it = s.index.find(key);
      if (it == s.index.end()) {
        ++fresh;
      } else {
        s.last_touch[it->second] = s.tick;
      }
    }
    if (s.steps.size() + fresh > s.spec.max_rows) {
      s.evict(s.steps.size() + fresh - s.spec.max_rows);
    }
  }
  s.forget_recent(worker);
  if (s.recent_keys + keys.size() > sparse_slice::max_recent_keys ||
      s.recent.size() >= sparse_slice::max_recent_workers) {
    s.clear_recent();
  }
  auto& cached = s.recent[worker];  // after the checks: only a valid request is cached
  cached.keys = keys;
  s.recent_keys += keys.size();
  cached.slots.resize(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) cached.slots[i] = s.row_of(keys[i]);
  slots = &cached.slots;
  return {};
}

status shard_store::apply_sparse(sparse_slice& s, const push_view& push, push_ack& ack, bool scan) {
  if (!push.sparse) return {errc::wrong_size, "dense push to sparse table '" + s.spec.name + "'"};
  if (push.width != s.spec.width) {
    return {errc::wrong_size, "rows of width " + std::to_string(push.width) + " for table '" +
                                  s.spec.name + "' of width " + std::to_string(s.spec.width)};
  }
  if (push.keys.size() != push.rows()) {
    return {errc::unknown_key_list,
            "push of " + describe(push.key_list) + " by name without complete_keys"};
  }
  if (scan) {
    if (auto st = check_finite(push); !st) return st;
  }
  const std::vector<std::uint32_t>* rows = nullptr;
  // Before rows are created (or others evicted) for it.
  if (auto st = check_order(push); !st) return st;
  if (auto st = resolve(s, push.worker, push.keys, rows); !st) return st;
  const std::size_t w = s.spec.width;
  // The update rule (engine/store/update_rule.hpp) rewrites the gradient or
  // the learning rate of a stale push; plain leaves both alone. A gradient
  // it rewrote is checked again before anything is recorded or applied.
  const auto plan =
      s.rule.plan_push(push.values, push.count, observed_staleness(s.version, push), s.version);
  const float* g = push.values;
  const float* pulled = nullptr;
  if (s.rule.needs_pulled_values()) {
    pulled = s.pulled.find(push.worker, push.pulled_version, push.keys);
  }
  if (s.rule.may_rewrite()) {
    scratch_.resize(push.count);
    for (std::size_t i = 0; i < push.keys.size(); ++i) {
      float* out = scratch_.data() + i * w;
      const float* row = s.values.data() + static_cast<std::size_t>((*rows)[i]) * w;
      const float* gi = s.rule.gradient(plan, push.values + i * w, w, row,
                                        pulled ? pulled + i * w : nullptr, out);
      if (gi != out) std::copy_n(gi, w, out);
    }
    g = scratch_.data();
    if (auto st = check_finite(push, g, "update rule made "); !st) return st;
  }
  bool duplicate = false;
  check_seq(push, s.version, ack, duplicate);
  if (duplicate) return {};
  if (s.rule.needs_pulled_values() && pulled == nullptr) ++s.uncompensated;
  s.opt->apply_rows(s.values.data(), rows->data(), g, push.keys.size(), w, s.state.data(),
                    s.steps.data(), plan.lr_scale);
  ++s.version;
  ack.shard_version = s.version;
  // The rows this push was compensated with are used up (a refused push, a
  // duplicate or a push of another pull leaves them for the one they serve).
  if (pulled != nullptr) s.pulled.forget(push.worker);
  return {};
}

status shard_store::apply_push(const push_view& push, push_ack& ack, bool trust_checked) {
  const bool scan = !(trust_checked && push.checked_finite);
  if (auto sp = sparse_.find(push.table); sp != sparse_.end()) {
    // The worker's resolved rows stay cached: its next step may look up the
    // same rows (a service client, the push/pull benchmark).
    return apply_sparse(sp->second, push, ack, scan);
  }
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
  if (scan) {
    if (auto st = check_finite(push); !st) return st;
  }
  const std::size_t at = push.offset - s.range.begin;
  // The update rule (engine/store/update_rule.hpp) rewrites the gradient or
  // the learning rate of a stale push; plain leaves both alone. A gradient
  // it rewrote is checked again before anything is recorded or applied.
  const auto plan =
      s.rule.plan_push(push.values, push.count, observed_staleness(s.version, push), s.version);
  const float* pulled = nullptr;
  if (s.rule.needs_pulled_values()) pulled = s.pulled.find(push.worker, push.pulled_version);
  if (s.rule.may_rewrite()) scratch_.resize(push.count);
  const float* g = s.rule.gradient(plan, push.values, push.count, s.values.data() + at,
                                   pulled ? pulled + at : nullptr, scratch_.data());
  if (g != push.values) {
    if (auto st = check_finite(push, g, "update rule made "); !st) return st;
  }
  if (auto st = check_order(push); !st) return st;
  bool duplicate = false;
  check_seq(push, s.version, ack, duplicate);
  if (duplicate) return {};
  if (s.rule.needs_pulled_values() && pulled == nullptr) ++s.uncompensated;
  s.apply(at, g, push.count, plan.lr_scale);
  ++s.version;
  ack.shard_version = s.version;
  return {};
}

// Only requests to a sparse table this shard serves may have lists
// remembered: others are refused later anyway, and must not fill the cache.
status shard_store::complete_keys(std::uint32_t table, bool sparse, const key_list_name& name,
                                  bool omitted, std::vector<std::uint64_t>& keys) {
  if (!sparse || !name.named) return {};
  if (sparse_.count(table) == 0) {
    return {errc::unknown_table, "sparse table " + std::to_string(table) + " on shard " +
                                     std::to_string(id_) + " (rows named by a key list)"};
  }
  return key_lists_.complete(name, omitted, keys);
}

status shard_store::complete_keys(push_view& push) {
  return complete_keys(push.table, push.sparse, push.key_list, push.keys_omitted, push.keys);
}

status shard_store::complete_keys(pull_request_view& pull) {
  return complete_keys(pull.table, pull.sparse, pull.key_list, pull.keys_omitted, pull.keys);
}

status shard_store::read_pull(const pull_request_view& pull, bytes& reply, reply_buffer* into) {
  if (auto sp = sparse_.find(pull.table); sp != sparse_.end()) {
    auto& s = sp->second;
    if (!pull.sparse)
      return {errc::wrong_size, "dense pull from sparse table '" + s.spec.name + "'"};
    if (pull.keys_omitted && pull.keys.size() != pull.key_list.count) {
      return {errc::unknown_key_list,
              "pull of " + describe(pull.key_list) + " by name without complete_keys"};
    }
    if (pull.keys.size() * s.spec.width * sizeof(float) > max_payload_bytes) {
      return {errc::wrong_size, "pull of " + std::to_string(pull.keys.size()) + " rows of '" +
                                    s.spec.name + "' exceeds one message; split it"};
    }
    const std::vector<std::uint32_t>* rows = nullptr;
    if (auto st = resolve(s, pull.worker, pull.keys, rows); !st) return st;
    const std::size_t w = s.spec.width;
    auto out = pull_reply_writer::sparse(pull.table, s.version, pull.keys.data(), pull.keys.size(),
                                         s.spec.width, pull.omit_keys);
    float* to = out.values();
    const float* from = s.values.data();
    if (w == 1) {  // one float per row: a gather, not a memcpy call per row
      for (std::size_t i = 0; i < pull.keys.size(); ++i) to[i] = from[(*rows)[i]];
    } else {
      for (std::size_t i = 0; i < pull.keys.size(); ++i) {
        std::memcpy(to + i * w, from + static_cast<std::size_t>((*rows)[i]) * w, w * sizeof(float));
      }
    }
    if (s.rule.needs_pulled_values()) {
      s.pulled.remember(pull.worker, s.version, pull.keys, out.values(), s.spec.width);
    }
    reply = std::move(out).finish();
    return {};
  }
  auto it = dense_.find(pull.table);
  if (it == dense_.end()) {
    return {errc::unknown_table,
            "table " + std::to_string(pull.table) + " on shard " + std::to_string(id_)};
  }
  auto& s = it->second;
  if (pull.sparse) return {errc::wrong_size, "sparse pull from dense table '" + s.spec.name + "'"};
  if (pull.offset < s.range.begin || pull.offset > s.range.end ||
      pull.count > s.range.end - pull.offset) {
    return {errc::out_of_range,
            std::to_string(pull.count) + " keys at offset " + std::to_string(pull.offset) +
                " exceed the range [" + std::to_string(s.range.begin) + ", " +
                std::to_string(s.range.end) + ") of table '" + s.spec.name + "'"};
  }
  if (auto st = check_payload(pull.count, 0, "pull"); !st) return st;
  auto w = pull_reply_writer::dense(pull.table, s.version, pull.offset, pull.count, into);
  std::memcpy(w.values(), s.values.data() + (pull.offset - s.range.begin),
              pull.count * sizeof(float));
  if (s.rule.needs_pulled_values()) s.pulled.remember(pull.worker, s.version, s.values);
  reply = std::move(w).finish();
  return {};
}

std::uint64_t shard_store::version(std::uint32_t table) const {
  if (auto sp = sparse_.find(table); sp != sparse_.end()) return sp->second.version;
  auto it = dense_.find(table);
  return it == dense_.end() ? 0 : it->second.version;
}

std::uint64_t shard_store::total_version() const {
  std::uint64_t v = 0;
  for (const auto& [id, s] : dense_) v += s.version;
  for (const auto& [id, s] : sparse_) v += s.version;
  return v;
}

std::size_t shard_store::sparse_rows(std::uint32_t table) const {
  auto it = sparse_.find(table);
  return it == sparse_.end() ? 0 : it->second.steps.size();
}

std::size_t shard_store::bytes_per_row(std::uint32_t table) const {
  auto it = sparse_.find(table);
  if (it == sparse_.end()) return 0;
  const auto& s = it->second;
  // values + optimizer state + step counter + hash-map node (key, slot, links)
  return s.spec.width * (1 + s.opt->state_slots()) * sizeof(float) + sizeof(std::uint64_t) + 32;
}

std::uint64_t shard_store::evicted_rows(std::uint32_t table) const {
  auto it = sparse_.find(table);
  return it == sparse_.end() ? 0 : it->second.evicted;
}

std::uint64_t shard_store::uncompensated_pushes(std::uint32_t table) const {
  if (auto sp = sparse_.find(table); sp != sparse_.end()) return sp->second.uncompensated;
  auto it = dense_.find(table);
  return it == dense_.end() ? 0 : it->second.uncompensated;
}

std::size_t shard_store::pulled_bytes(std::uint32_t table) const {
  if (auto sp = sparse_.find(table); sp != sparse_.end()) return sp->second.pulled.bytes();
  auto it = dense_.find(table);
  return it == dense_.end() ? 0 : it->second.pulled.bytes();
}

std::size_t shard_store::cached_row_ids(std::uint32_t table) const {
  auto it = sparse_.find(table);
  return it == sparse_.end() ? 0 : it->second.recent_keys;
}

std::size_t shard_store::cached_lookups(std::uint32_t table) const {
  auto it = sparse_.find(table);
  return it == sparse_.end() ? 0 : it->second.recent.size();
}

const float* shard_store::sparse_row(std::uint32_t table, std::uint64_t key) const {
  auto it = sparse_.find(table);
  if (it == sparse_.end()) return nullptr;
  auto row = it->second.index.find(key);
  if (row == it->second.index.end()) return nullptr;
  return it->second.values.data() + static_cast<std::size_t>(row->second) * it->second.spec.width;
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
