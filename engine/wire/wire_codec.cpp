#include "engine/wire/wire_codec.hpp"

#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "engine/wire/capnp_message.hpp"
#include "schemas/troupe.capnp.h"

namespace troupe {

static_assert(sizeof(float) == 4, "the wire carries IEEE-754 float32");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the wire format reads float32 payloads in place and needs a little-endian host"
#endif

namespace {
constexpr std::uint16_t kVersion = wire::PROTOCOL_VERSION;
constexpr std::size_t kHeaderWords = 32;  // generous room for structs and pointers

std::size_t words_for_bytes(std::size_t n) {
  return (n + 7) / 8;
}

// Throws instead of letting Cap'n Proto throw a kj::Exception (which callers
// cannot catch as a std::exception) or a narrowing cast wrap the size.
void require_payload(std::uint64_t floats, std::uint64_t num_keys, const char* what) {
  if (auto st = check_payload(floats, num_keys, what); !st)
    throw troupe_error(st.code(), st.message());
}

// num_keys * width, or refuses a product that would overflow.
std::size_t sparse_count(std::size_t num_keys, std::uint32_t width, const char* what) {
  if (width != 0 && num_keys > max_payload_bytes / sizeof(float) / width) {
    throw troupe_error(errc::wrong_size, std::string(what) + ": " + std::to_string(num_keys) +
                                             " rows of width " + std::to_string(width) +
                                             " exceed one message");
  }
  return num_keys * width;
}
}  // namespace

status check_payload(std::uint64_t floats, std::uint64_t num_keys, const char* what) {
  if (floats <= max_payload_bytes / sizeof(float) &&
      num_keys <= max_payload_bytes / sizeof(std::uint64_t)) {
    return {};
  }
  return {errc::wrong_size, std::string(what) + " of " + std::to_string(floats) + " values and " +
                                std::to_string(num_keys) + " row ids exceeds one message (" +
                                std::to_string(max_payload_bytes) + " bytes); split it"};
}

payload_writer::payload_writer(std::unique_ptr<flat_builder> builder)
    : builder_(std::move(builder)) {}
payload_writer::payload_writer(payload_writer&&) noexcept = default;
payload_writer& payload_writer::operator=(payload_writer&&) noexcept = default;
payload_writer::~payload_writer() = default;

bytes payload_writer::finish() && {
  auto out = builder_->finish();
  builder_.reset();
  values_ = nullptr;
  return out;
}

namespace {

// Allocates a Data blob of `count` floats and returns where to write them.
// The blob's padding to a whole word may hold old bytes (flat_builder does
// not zero the payload): clear it.
float* init_values(capnp::Data::Builder data) {
  const std::size_t pad = words_for_bytes(data.size()) * 8 - data.size();
  if (pad > 0) std::memset(data.end(), 0, pad);
  return reinterpret_cast<float*>(data.begin());
}

// A builder whose last allocations, `keys` row ids then a blob of `count`
// floats, are overwritten entirely by the caller (so not zeroed first).
std::unique_ptr<flat_builder> payload_builder(std::size_t keys, std::size_t count,
                                              reply_buffer* into = nullptr) {
  const std::size_t tail = keys + words_for_bytes(count * 4);
  return std::make_unique<flat_builder>(kHeaderWords + tail, tail, into);
}

// A List(UInt64) is n contiguous little-endian words: fill it with one memcpy
// instead of n bounds-checked sets (5x faster for a million keys).
void set_keys(capnp::List<std::uint64_t>::Builder list, const std::uint64_t* keys, std::size_t n) {
  auto raw = capnp::AnyList::Builder(kj::mv(list)).asReader().getRawBytes();
  if (n == 0) return;
  // The bytes belong to the message being built; the reader view only locates them.
  std::memcpy(const_cast<kj::byte*>(raw.begin()), keys, n * sizeof(std::uint64_t));
}

void set_key_list(wire::KeyList::Builder out, const key_list_name& name) {
  if (name.named) {
    auto digest = out.initDigest(static_cast<unsigned>(name.digest.size()));
    std::memcpy(digest.begin(), name.digest.data(), name.digest.size());
  }
  out.setCount(name.count);
}

// Whether a sparse message with this name carries its ids; refuses a name
// that does not count them.
bool sends_keys(const std::uint64_t* keys, std::size_t num_keys, const key_list_name* name,
                const char* what) {
  if (name == nullptr || keys != nullptr) return true;
  if (!name->named || name->count != num_keys) {
    throw troupe_error(errc::wrong_size, std::string(what) + " of " + std::to_string(num_keys) +
                                             " rows without their ids names " + describe(*name));
  }
  return false;
}

void fill_header(wire::PushRequest::Builder req, const push_header& h) {
  req.setVersion(kVersion);
  req.setTable(h.table);
  req.setWorker(h.worker);
  req.setClock(h.clock);
  req.setSeq(h.seq);
  req.setPulledVersion(h.pulled_version);
  req.setNotifyApplied(h.notify_applied);
  req.setInOrder(h.in_order);
  req.setPullAfter(static_cast<wire::PullAfter>(h.pull_after));
  req.setCheckedFinite(h.checked_finite);
}

}  // namespace

push_writer push_writer::dense(const push_header& header, std::uint64_t offset, std::size_t count) {
  require_payload(count, 0, "push");
  push_writer w(payload_builder(0, count));
  auto req = w.builder_->initRoot<wire::PushRequest>();
  fill_header(req, header);
  auto range = req.initDense();
  range.setOffset(offset);
  w.values_ = init_values(range.initValues(static_cast<unsigned>(count * 4)));
  w.count_ = count;
  return w;
}

void push_writer::mark_checked_finite() {
  builder_->getRoot<wire::PushRequest>().setCheckedFinite(true);
}

push_writer push_writer::sparse(const push_header& header, const std::uint64_t* keys,
                                std::size_t num_keys, std::uint32_t width,
                                const key_list_name* name) {
  const std::size_t count = sparse_count(num_keys, width, "push");
  const bool with_keys = sends_keys(keys, num_keys, name, "push");
  if (!with_keys && !header.in_order) {
    throw troupe_error(errc::wrong_size, "a push by key-list name must be in order (inOrder)");
  }
  const std::size_t sent_keys = with_keys ? num_keys : 0;
  require_payload(count, sent_keys, "push");
  push_writer w(payload_builder(sent_keys, count));
  auto req = w.builder_->initRoot<wire::PushRequest>();
  fill_header(req, header);
  auto rows = req.initSparse();
  if (name != nullptr) set_key_list(rows.initKeyList(), *name);  // before the tail, not in it
  if (with_keys) set_keys(rows.initKeys(static_cast<unsigned>(num_keys)), keys, num_keys);
  rows.setWidth(width);
  w.values_ = init_values(rows.initValues(static_cast<unsigned>(count * 4)));
  w.count_ = count;
  return w;
}

pull_reply_writer pull_reply_writer::dense(std::uint32_t table, std::uint64_t shard_version,
                                           std::uint64_t offset, std::size_t count,
                                           reply_buffer* into) {
  require_payload(count, 0, "pull reply");
  if (into != nullptr) into->used = 0;
  pull_reply_writer w(payload_builder(0, count, into));
  auto rep = w.builder_->initRoot<wire::PullReply>();
  rep.setVersion(kVersion);
  rep.setTable(table);
  rep.setShardVersion(shard_version);
  auto range = rep.initDense();
  range.setOffset(offset);
  w.values_ = init_values(range.initValues(static_cast<unsigned>(count * 4)));
  w.count_ = count;
  return w;
}

pull_reply_writer pull_reply_writer::sparse(std::uint32_t table, std::uint64_t shard_version,
                                            const std::uint64_t* keys, std::size_t num_keys,
                                            std::uint32_t width, bool omit_keys) {
  const std::size_t count = sparse_count(num_keys, width, "pull reply");
  const std::size_t sent_keys = omit_keys ? 0 : num_keys;
  require_payload(count, sent_keys, "pull reply");
  pull_reply_writer w(payload_builder(sent_keys, count));
  auto rep = w.builder_->initRoot<wire::PullReply>();
  rep.setVersion(kVersion);
  rep.setTable(table);
  rep.setShardVersion(shard_version);
  auto rows = rep.initSparse();
  if (omit_keys) {
    key_list_name just_count;
    just_count.count = num_keys;
    set_key_list(rows.initKeyList(), just_count);
  } else {
    set_keys(rows.initKeys(static_cast<unsigned>(num_keys)), keys, num_keys);
  }
  rows.setWidth(width);
  w.values_ = init_values(rows.initValues(static_cast<unsigned>(count * 4)));
  w.count_ = count;
  return w;
}

bytes encode_dense_pull(std::uint32_t table, std::uint32_t worker, std::uint64_t offset,
                        std::uint64_t count, bool accept_shared, std::uint64_t hold_round) {
  flat_builder b(kHeaderWords);
  auto req = b.initRoot<wire::PullRequest>();
  req.setVersion(kVersion);
  req.setTable(table);
  req.setWorker(worker);
  req.setAcceptShared(accept_shared);
  req.setHoldRound(hold_round);
  auto range = req.initDense();
  range.setOffset(offset);
  range.setCount(count);
  return b.finish();
}

bytes encode_sparse_pull(std::uint32_t table, std::uint32_t worker, const std::uint64_t* keys,
                         std::size_t num_keys, bool accept_shared, const key_list_name* name,
                         bool omit_reply_keys, std::uint64_t hold_round) {
  const bool with_keys = sends_keys(keys, num_keys, name, "pull");
  const std::size_t sent_keys = with_keys ? num_keys : 0;
  require_payload(0, sent_keys, "pull");
  flat_builder b(kHeaderWords + sent_keys, sent_keys);  // the keys, copied in whole, come last
  auto req = b.initRoot<wire::PullRequest>();
  req.setVersion(kVersion);
  req.setTable(table);
  req.setWorker(worker);
  req.setAcceptShared(accept_shared);
  req.setOmitKeys(omit_reply_keys);
  req.setHoldRound(hold_round);
  if (name != nullptr) set_key_list(req.initKeyList(), *name);
  auto list = req.initSparse(static_cast<unsigned>(sent_keys));
  if (with_keys) set_keys(list, keys, num_keys);
  return b.finish();
}

bytes encode_push_ack(const push_ack& ack) {
  flat_builder b(kHeaderWords);
  auto msg = b.initRoot<wire::PushAck>();
  msg.setVersion(kVersion);
  msg.setSeq(ack.seq);
  msg.setShardVersion(ack.shard_version);
  msg.setStaleness(ack.staleness);
  msg.setDuplicate(ack.duplicate);
  return b.finish();
}

bytes encode_clock_advance(const clock_advance& adv) {
  flat_builder b(kHeaderWords);
  auto msg = b.initRoot<wire::ClockAdvance>();
  msg.setVersion(kVersion);
  msg.setWorker(adv.worker);
  msg.setClock(adv.clock);
  msg.setPushesAcked(adv.pushes_acked);
  return b.finish();
}

// --- decoding ---------------------------------------------------------------

namespace {

status check_version(std::uint16_t version) {
  if (version == kVersion) return {};
  return {errc::version_mismatch, "protocol version " + std::to_string(version) +
                                      " (this build speaks " + std::to_string(kVersion) + ")"};
}

void copy_keys(capnp::List<std::uint64_t>::Reader keys, std::vector<std::uint64_t>& out) {
  out.resize(keys.size());
  const auto raw = capnp::AnyList::Reader(keys).getRawBytes();
  if (raw.size() != keys.size() * sizeof(std::uint64_t)) {  // not a plain word list
    for (unsigned i = 0; i < keys.size(); ++i) out[i] = keys[i];
    return;
  }
  if (!out.empty()) std::memcpy(out.data(), raw.begin(), raw.size());
}

status read_values(capnp::Data::Reader data, payload_view& out) {
  if (data.size() % 4 != 0) {
    return {errc::malformed_message,
            "value blob of " + std::to_string(data.size()) + " bytes is not float32s"};
  }
  out.values = reinterpret_cast<const float*>(data.begin());
  out.count = data.size() / 4;
  return {};
}

status read_dense(wire::DenseRange::Reader range, payload_view& out) {
  out.sparse = false;
  out.offset = range.getOffset();
  return read_values(range.getValues(), out);
}

// `need_digest`: a request's name must be a whole digest; a reply's may be a
// bare row count.
status read_key_list(wire::KeyList::Reader in, key_list_name& out, bool need_digest) {
  const auto digest = in.getDigest();
  out = {};
  out.count = in.getCount();
  if (digest.size() == 0 && !need_digest) return {};
  if (digest.size() != out.digest.size()) {
    return {errc::malformed_message, "key list digest of " + std::to_string(digest.size()) +
                                         " bytes (SHA-256 has " +
                                         std::to_string(out.digest.size()) + ")"};
  }
  std::memcpy(out.digest.data(), digest.begin(), digest.size());
  out.named = true;
  return {};
}

// A list given by name alone leaves `keys` empty (keys_omitted); one given
// in full with its name must count the ids it came with.
status read_named_keys(bool has_list, wire::KeyList::Reader list, bool need_digest,
                       std::vector<std::uint64_t>& keys, key_list_name& name, bool& omitted) {
  name = {};
  omitted = false;
  if (!has_list) return {};
  if (auto st = read_key_list(list, name, need_digest); !st) return st;
  if (keys.empty() && name.count > 0) {
    omitted = true;
  } else if (name.count != keys.size()) {
    return {errc::wrong_size,
            "key list " + describe(name) + " sent with " + std::to_string(keys.size()) + " ids"};
  }
  return {};
}

status read_sparse(wire::SparseRows::Reader rows, payload_view& out, bool reply) {
  out.sparse = true;
  auto keys = rows.getKeys();
  copy_keys(keys, out.keys);
  if (auto st = read_named_keys(rows.hasKeyList(), rows.getKeyList(), !reply, out.keys,
                                out.key_list, out.keys_omitted);
      !st) {
    return st;
  }
  out.width = rows.getWidth();
  if (auto st = read_values(rows.getValues(), out); !st) return st;
  const std::uint64_t n = out.rows();
  if (out.width == 0 && n != 0) {
    return {errc::wrong_size, "sparse rows with width 0"};
  }
  // n may be any count a peer wrote: compare without multiplying it.
  if ((out.width != 0 && (out.count % out.width != 0 || out.count / out.width != n)) ||
      (out.width == 0 && out.count != 0)) {
    return {errc::wrong_size, std::to_string(n) + " rows of width " + std::to_string(out.width) +
                                  " do not make " + std::to_string(out.count) + " values"};
  }
  return {};
}

}  // namespace

status decode_push(const bytes& in, push_view& out) {
  return decode_push(in.data(), in.size(), out);
}

status decode_push(const char* data, std::size_t size, push_view& out) {
  return with_reader(data, size, &out.keepalive, [&](capnp::MessageReader& reader) -> status {
    auto req = reader.getRoot<wire::PushRequest>();
    if (auto st = check_version(req.getVersion()); !st) return st;
    out.table = req.getTable();
    out.worker = req.getWorker();
    out.clock = req.getClock();
    out.seq = req.getSeq();
    out.pulled_version = req.getPulledVersion();
    out.notify_applied = req.getNotifyApplied();
    out.in_order = req.getInOrder();
    out.checked_finite = req.getCheckedFinite();
    switch (req.getPullAfter()) {
      case wire::PullAfter::NONE:
        out.pull_after = push_header::pull_after_kind::none;
        break;
      case wire::PullAfter::BYTES:
        out.pull_after = push_header::pull_after_kind::bytes;
        break;
      case wire::PullAfter::SHARED:
        out.pull_after = push_header::pull_after_kind::shared;
        break;
      default:  // a newer sender's kind: this shard answers as if not asked
        out.pull_after = push_header::pull_after_kind::none;
    }
    switch (req.which()) {
      case wire::PushRequest::DENSE:
        return read_dense(req.getDense(), out);
      case wire::PushRequest::SPARSE: {
        auto st = read_sparse(req.getSparse(), out, false);
        // A push refused for want of its ids is sent again with the same
        // seq: only an in-order sender's later pushes wait for it (the shard
        // refuses them as out of order) instead of making it a "duplicate".
        if (st && out.keys_omitted && !out.in_order) {
          return {errc::malformed_message, "a push by key-list name that is not in order"};
        }
        return st;
      }
    }
    return {errc::malformed_message, "push with an unknown payload kind"};
  });
}

status decode_pull_request(const bytes& in, pull_request_view& out) {
  return with_reader(in, nullptr, [&](capnp::MessageReader& reader) -> status {
    auto req = reader.getRoot<wire::PullRequest>();
    if (auto st = check_version(req.getVersion()); !st) return st;
    out.table = req.getTable();
    out.worker = req.getWorker();
    out.accept_shared = req.getAcceptShared();
    out.omit_keys = req.getOmitKeys();
    out.hold_round = req.getHoldRound();
    switch (req.which()) {
      case wire::PullRequest::DENSE: {
        out.sparse = false;
        out.offset = req.getDense().getOffset();
        out.count = req.getDense().getCount();
        if (req.hasKeyList()) return {errc::malformed_message, "a dense pull with a key list"};
        return {};
      }
      case wire::PullRequest::SPARSE: {
        out.sparse = true;
        auto keys = req.getSparse();
        copy_keys(keys, out.keys);
        return read_named_keys(req.hasKeyList(), req.getKeyList(), true, out.keys, out.key_list,
                               out.keys_omitted);
      }
    }
    return {errc::malformed_message, "pull with an unknown request kind"};
  });
}

status decode_pull_reply(const bytes& in, pull_reply_view& out) {
  return decode_pull_reply(in.data(), in.size(), out);
}

status decode_pull_reply(const char* data, std::size_t size, pull_reply_view& out) {
  return with_reader(data, size, &out.keepalive, [&](capnp::MessageReader& reader) -> status {
    auto rep = reader.getRoot<wire::PullReply>();
    if (auto st = check_version(rep.getVersion()); !st) return st;
    out.table = rep.getTable();
    out.shard_version = rep.getShardVersion();
    switch (rep.which()) {
      case wire::PullReply::DENSE:
        return read_dense(rep.getDense(), out);
      case wire::PullReply::SPARSE:
        return read_sparse(rep.getSparse(), out, true);
    }
    return {errc::malformed_message, "pull reply with an unknown payload kind"};
  });
}

status decode_push_ack(const bytes& in, push_ack& out) {
  return with_reader(in, nullptr, [&](capnp::MessageReader& reader) -> status {
    auto msg = reader.getRoot<wire::PushAck>();
    if (auto st = check_version(msg.getVersion()); !st) return st;
    out.seq = msg.getSeq();
    out.shard_version = msg.getShardVersion();
    out.staleness = msg.getStaleness();
    out.duplicate = msg.getDuplicate();
    return {};
  });
}

status decode_clock_advance(const bytes& in, clock_advance& out) {
  return with_reader(in, nullptr, [&](capnp::MessageReader& reader) -> status {
    auto msg = reader.getRoot<wire::ClockAdvance>();
    if (auto st = check_version(msg.getVersion()); !st) return st;
    out.worker = msg.getWorker();
    out.clock = msg.getClock();
    out.pushes_acked = msg.getPushesAcked();
    return {};
  });
}

bytes encode_push_in_full(const push_view& push) {
  const push_header& header = push;
  auto w = push_writer::sparse(header, push.keys.data(), push.keys.size(), push.width,
                               push.key_list.named ? &push.key_list : nullptr);
  if (w.count() != push.count) {
    throw troupe_error(errc::wrong_size, "push of " + std::to_string(push.count) + " values for " +
                                             std::to_string(push.keys.size()) + " rows of width " +
                                             std::to_string(push.width));
  }
  if (push.count > 0) std::memcpy(w.values(), push.values, push.count * sizeof(float));
  return std::move(w).finish();
}

}  // namespace troupe
