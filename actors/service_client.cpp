// troupe::client's calls: validation, splitting by shard, encoding and
// merging. The session actor (client_session.hpp) does the sending and
// watching.
#include <atomic>
#include <cmath>
#include <cstring>

#include "actors/client_impl.hpp"
#include "engine/store/gradient_scan.hpp"
#include "engine/wire/request_split.hpp"

namespace troupe {

template <class T>
const table_entry* client::impl::table_for(const std::shared_ptr<call<T>>& c,
                                           const std::string& name, bool sparse) {
  const auto* t = find(name);
  if (!t) {
    refuse(c, api_errc::unknown_table, "no table '" + name + "'");
  } else if ((t->spec.kind == table_kind::sparse) != sparse) {
    refuse(c, api_errc::bad_argument,
           "table '" + name + "' is " +
               (sparse ? "dense: use pull/push_dense" : "sparse: use lookup/push"));
    return nullptr;
  }
  return t;
}

request_queue::outcome client::impl::submit(std::vector<outgoing_request>& parts, bool& wake,
                                            std::chrono::steady_clock::time_point started) {
  const auto deadline = started + timeout_;
  for (auto& p : parts) p.deadline = deadline;
  return queue_->submit(parts, wake);
}

template <class T>
void client::impl::refuse_unqueued(const std::shared_ptr<call<T>>& c, request_queue::outcome why) {
  if (why == request_queue::outcome::full) {
    return refuse(c, api_errc::overloaded,
                  "the client's queue is full (" + std::to_string(queue_->waiting()) +
                      " requests wait for the shards; client_options::max_queued): retry later "
                      "or shed load");
  }
  refuse(c, api_errc::stopped, "the client was stopped");
}

template <class T>
void client::impl::send(const std::shared_ptr<call<T>>& c, std::vector<outgoing_request> parts) {
  c->parts_left = parts.size();
  if (parts.empty()) return c->complete();
  const auto context = parts.front().context;
  bool wake = false;
  if (const auto r = submit(parts, wake, c->started); r != request_queue::outcome::queued) {
    return refuse_unqueued(c, r);
  }
  watch(c, context);
  if (wake) wake_session(session_);
}

template <class Build>
void client::impl::send_push(const std::shared_ptr<call<void>>& c, Build build) {
  auto queued = request_queue::outcome::closed;
  bool wake = false;
  std::size_t n = 0;
  std::string failure;
  std::string context;
  {
    std::lock_guard<std::mutex> lock(push_order_);
    // Sequence numbers are taken only once every part is built: a push that
    // fails to build sends nothing and leaves no gap.
    auto seq = next_seq_;
    std::vector<outgoing_request> parts;
    try {
      parts = build(seq);
    } catch (const std::exception& e) {
      failure = e.what();
    } catch (...) {
      failure = "unknown exception";
    }
    if (failure.empty()) {
      n = parts.size();
      c->parts_left = n;
      if (n > 0) context = parts.front().context;
      if (n > 0) queued = submit(parts, wake, c->started);
      // A refused push takes no sequence numbers either.
      if (n == 0 || queued == request_queue::outcome::queued) next_seq_ = std::move(seq);
    }
  }
  // Outside the lock: the callback may push again.
  if (!failure.empty()) {
    spdlog::error("client {}: cannot build a push: {}", id_, failure);
    return refuse(c, api_errc::internal, "cannot build the push: " + failure);
  }
  if (n == 0) return c->complete();
  if (queued != request_queue::outcome::queued) return refuse_unqueued(c, queued);
  watch(c, context);
  if (wake) wake_session(session_);
}

namespace {

// An error message for the first id at or above the table's limit; empty if none.
std::string check_ids(const table_spec& spec, const std::vector<std::uint64_t>& ids) {
  if (spec.max_row_id == 0) return {};
  for (auto id : ids) {
    if (id >= spec.max_row_id) {
      return "row " + std::to_string(id) + " outside table '" + spec.name + "' of " +
             std::to_string(spec.max_row_id) + " row ids";
    }
  }
  return {};
}

// Refusal of a dense range outside [0, size); empty if it fits.
std::string check_range(const table_spec& spec, std::uint64_t offset, std::uint64_t count) {
  if (count <= spec.size && offset <= spec.size - count) return {};
  return "range [" + std::to_string(offset) + ", +" + std::to_string(count) + ") outside table '" +
         spec.name + "' of " + std::to_string(spec.size) + " values";
}

// Refusal of a part of `keys` row ids and `floats` values to one shard that
// cannot travel in one message; empty if it fits.
std::string check_part(const std::string& table, std::uint64_t keys, std::uint32_t width,
                       std::uint64_t floats, std::uint32_t shard, std::uint64_t max_rows = 0) {
  // A bounded table's shard refuses more rows in one request than it holds:
  // refused here, before any shard applies its part of the call alone.
  if (max_rows > 0 && keys > max_rows) {
    return "table '" + table + "': " + std::to_string(keys) + " rows for shard " +
           std::to_string(shard) + " in one call, but it holds at most " +
           std::to_string(max_rows) + " per shard (max_rows); split the call";
  }
  const std::uint64_t max_floats = max_payload_bytes / sizeof(float);
  const bool too_many_rows = width != 0 && keys > max_floats / width;
  if (!too_many_rows && check_payload(floats, keys, "part")) return {};
  return "table '" + table + "': the part for shard " + std::to_string(shard) + " (" +
         (keys ? std::to_string(keys) + " rows" : std::to_string(floats) + " values") +
         ") exceeds one message of " + std::to_string(max_payload_bytes) + " bytes; split the call";
}

// Sizes a call's result of `n` floats; refuses the call (bad_argument) when
// this process cannot hold it, rather than let std::bad_alloc out of the API.
template <class T>
bool allocate_result(const std::shared_ptr<call<T>>& c, std::vector<float>& out, std::uint64_t n,
                     const std::string& table) {
  try {
    out.resize(n);
    return true;
  } catch (const std::exception&) {  // bad_alloc, or length_error beyond max_size()
    c->fail({api_errc::bad_argument, "table '" + table + "': a result of " + std::to_string(n) +
                                         " values is more than this process can hold; split the "
                                         "call"});
    c->complete();
    return false;
  }
}

std::string reply_error(const std::string& what, const status& st) {
  return what + ": bad reply: " + st.to_string();
}

// `warned`: whether this client already logged a duplicate acknowledgement.
part_done on_ack(std::shared_ptr<call<void>> c, std::string what,
                 std::shared_ptr<std::atomic<bool>> warned) {
  return [c = std::move(c), what = std::move(what), warned = std::move(warned)](
             bytes* reply, const api_error* err) {
    push_ack ack;
    if (err) {
      c->fail(*err);
    } else if (auto st = decode_push_ack(*reply, ack); !st) {
      c->fail({api_errc::internal, reply_error(what, st)});
    } else if (ack.duplicate && !warned->exchange(true)) {
      // This client sends each sequence number once: a duplicate means
      // another client uses the same id, and one of its pushes was dropped.
      spdlog::warn(
          "client: {} was acknowledged as a duplicate (seq {}); does another client "
          "share this client's id?",
          what, ack.seq);
    }
    c->part_done();
  };
}

}  // namespace

void client::impl::lookup(const std::string& name, std::vector<std::uint64_t> ids,
                          callback<rows> done) {
  auto c = start<rows>(std::move(done));
  const auto* t = table_for(c, name, true);
  if (!t) return;
  if (auto why = check_ids(t->spec, ids); !why.empty()) {
    return refuse(c, api_errc::out_of_range, why);
  }
  const std::uint32_t width = t->spec.width;
  c->value.width = width;
  auto split = split_rows(ids.data(), ids.size(), shards_);
  if (!split.duplicates.empty()) {
    c->finalize = [dups = std::move(split.duplicates), width](rows& r) {
      for (auto [dup, first] : dups) {
        std::memcpy(r.values.data() + dup * width, r.values.data() + first * width,
                    width * sizeof(float));
      }
    };
  }
  for (const auto& b : split.batches) {
    if (auto why = check_part(name, b.keys.size(), width, 0, b.shard, t->spec.max_rows);
        !why.empty()) {
      return refuse(c, api_errc::bad_argument, why);
    }
  }
  // Sized once every part is known to fit in a message (ids x width cannot
  // overflow then); a result this process cannot hold is refused too.
  if (!allocate_result(c, c->value.values, ids.size() * width, name)) return;
  const std::string what = "lookup on table '" + name + "'";
  std::vector<outgoing_request> parts;
  for (auto& b : split.batches) {
    auto msg = encode_sparse_pull(t->spec.id, id_, b.keys.data(), b.keys.size(), false, nullptr,
                                  true);  // the reply's rows are these, in this order
    auto on_done = [c, width, what, positions = std::move(b.positions)](bytes* reply,
                                                                        const api_error* err) {
      pull_reply_view v;
      status st = err ? status{} : decode_pull_reply(*reply, v);
      if (err) {
        c->fail(*err);
      } else if (!st || v.width != width || v.rows() != positions.size()) {
        c->fail(
            {api_errc::internal, reply_error(what, st ? status{errc::wrong_size, "rows"} : st)});
      } else if (!c->failed()) {
        for (std::size_t j = 0; j < positions.size(); ++j) {
          std::memcpy(c->value.values.data() + positions[j] * width, v.values + j * width,
                      width * sizeof(float));
        }
      }
      c->part_done();
    };
    parts.push_back({b.shard, false, std::move(msg), what, std::move(on_done)});
  }
  send(c, std::move(parts));
}

void client::impl::push(const std::string& name, std::vector<std::uint64_t> ids,
                        std::vector<float> grads, callback<void> done) {
  auto c = start<void>(std::move(done));
  const auto* t = table_for(c, name, true);
  if (!t) return;
  const std::uint32_t width = t->spec.width;
  if (grads.size() != ids.size() * width) {
    return refuse(c, api_errc::wrong_width,
                  "table '" + name + "': " + std::to_string(grads.size()) +
                      " gradient values for " + std::to_string(ids.size()) + " rows of width " +
                      std::to_string(width));
  }
  if (auto why = check_ids(t->spec, ids); !why.empty()) {
    return refuse(c, api_errc::out_of_range, why);
  }
  auto split = split_rows(ids.data(), ids.size(), shards_);
  // A row pushed twice in one call gets the sum of its gradients, once.
  for (auto [dup, first] : split.duplicates) {
    for (std::uint32_t j = 0; j < width; ++j) grads[first * width + j] += grads[dup * width + j];
  }
  // Checked on the sums, which are what is sent (3e38 + 3e38 is inf), and
  // before anything is sent, so that no shard applies its part alone.
  for (const auto& b : split.batches) {
    if (auto why = check_part(name, b.keys.size(), width, 0, b.shard, t->spec.max_rows);
        !why.empty()) {
      return refuse(c, api_errc::bad_argument, why);
    }
    for (auto pos : b.positions) {
      const float* row = grads.data() + pos * width;
      if (auto j = first_unusable(row, width); j < width) {
        return refuse(c, api_errc::non_finite,
                      "table '" + name + "': gradient of row " + std::to_string(ids[pos]) +
                          " holds " + describe_unusable(row[j]) + "; nothing was pushed");
      }
    }
  }
  const std::string what = "push to table '" + name + "'";
  send_push(c, [&](std::vector<std::uint64_t>& seq) {
    std::vector<outgoing_request> parts;
    for (auto& b : split.batches) {
      const push_header h{t->spec.id, id_, 0, ++seq[b.shard], 0};
      auto w = push_writer::sparse(h, b.keys.data(), b.keys.size(), width);
      for (std::size_t j = 0; j < b.positions.size(); ++j) {
        std::memcpy(w.values() + j * width, grads.data() + b.positions[j] * width,
                    width * sizeof(float));
      }
      parts.push_back({b.shard, true, std::move(w).finish(), what, on_ack(c, what, warned_)});
    }
    return parts;
  });
}

void client::impl::pull(const std::string& name, std::uint64_t offset, std::uint64_t count,
                        callback<std::vector<float>> done) {
  auto c = start<std::vector<float>>(std::move(done));
  const auto* t = table_for(c, name, false);
  if (!t) return;
  if (auto why = check_range(t->spec, offset, count); !why.empty()) {
    return refuse(c, api_errc::out_of_range, why);
  }
  const auto ranges = split_range(t->ranges, offset, count);
  for (const auto& p : ranges) {
    if (auto why = check_part(name, 0, 0, p.count, p.shard); !why.empty()) {
      return refuse(c, api_errc::bad_argument, why);
    }
  }
  if (!allocate_result(c, c->value, count, name)) return;
  const std::string what = "pull from table '" + name + "'";
  std::vector<outgoing_request> parts;
  for (const auto& p : ranges) {
    auto on_done = [c, p, offset, what](bytes* reply, const api_error* err) {
      pull_reply_view v;
      status st = err ? status{} : decode_pull_reply(*reply, v);
      if (err) {
        c->fail(*err);
      } else if (!st || v.sparse || v.offset != p.begin || v.count != p.count) {
        c->fail(
            {api_errc::internal, reply_error(what, st ? status{errc::wrong_size, "range"} : st)});
      } else if (!c->failed()) {
        std::memcpy(c->value.data() + (p.begin - offset), v.values, p.count * sizeof(float));
      }
      c->part_done();
    };
    parts.push_back({p.shard, false, encode_dense_pull(t->spec.id, id_, p.begin, p.count), what,
                     std::move(on_done)});
  }
  send(c, std::move(parts));
}

void client::impl::push_dense(const std::string& name, std::uint64_t offset,
                              std::vector<float> grads, callback<void> done) {
  auto c = start<void>(std::move(done));
  const auto* t = table_for(c, name, false);
  if (!t) return;
  if (auto why = check_range(t->spec, offset, grads.size()); !why.empty()) {
    return refuse(c, api_errc::out_of_range, why);
  }
  if (auto i = first_unusable(grads.data(), grads.size()); i < grads.size()) {
    return refuse(c, api_errc::non_finite,
                  "table '" + name + "': gradient of key " + std::to_string(offset + i) +
                      " holds " + describe_unusable(grads[i]) + "; nothing was pushed");
  }
  const auto ranges = split_range(t->ranges, offset, grads.size());
  for (const auto& p : ranges) {
    if (auto why = check_part(name, 0, 0, p.count, p.shard); !why.empty()) {
      return refuse(c, api_errc::bad_argument, why);
    }
  }
  const std::string what = "push to table '" + name + "'";
  send_push(c, [&](std::vector<std::uint64_t>& seq) {
    std::vector<outgoing_request> parts;
    for (const auto& p : ranges) {
      const push_header h{t->spec.id, id_, 0, ++seq[p.shard], 0};
      auto w = push_writer::dense(h, p.begin, p.count);
      std::memcpy(w.values(), grads.data() + (p.begin - offset), p.count * sizeof(float));
      parts.push_back({p.shard, true, std::move(w).finish(), what, on_ack(c, what, warned_)});
    }
    return parts;
  });
}

}  // namespace troupe
