#pragma once
// Cap'n Proto <-> engine types for the messages in schemas/troupe.capnp.
//
// Writers build each message straight into the byte vector that travels
// (`bytes`), so a gradient costs one memcpy into the message and nothing
// more; readers decode into views whose float pointers point into the bytes.
//
//   auto msg = troupe::push_writer::dense({table, worker, clock, seq, pulled}, offset, n);
//   std::memcpy(msg.values(), grad + offset, n * sizeof(float));
//   troupe::bytes wire = std::move(msg).finish();
//   ...
//   troupe::push_view push;
//   if (auto st = troupe::decode_push(wire, push); !st) { /* reject */ }
//   apply(push.values, push.count);   // reads in place
//
// Every decode validates the version, the union tag and the sizes, and turns
// any malformed input (truncated, garbage, hostile pointers) into a status.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/errors.hpp"
#include "engine/wire/key_list.hpp"
#include "engine/wire/uninit_allocator.hpp"

namespace troupe {

/// Bytes of one flat (segment table + segments) Cap'n Proto message. Growing
/// it does not zero-fill (encoders and CAF's deserializer overwrite every
/// byte); CAF serialises it as a plain byte sequence (actors/wire_bytes.hpp).
using bytes = std::vector<char, uninit_allocator<char>>;

/// Largest float payload a message may carry (Cap'n Proto blobs stop at 2^29
/// bytes; requests for more are refused before anything is built).
constexpr std::size_t max_payload_bytes = std::size_t{1} << 28;

/// Whether `num_keys` row ids and `floats` values fit one message: ok, or
/// wrong_size naming `what`. Every writer below checks this first and throws
/// it as a troupe_error; callers that want a value check it themselves.
///   if (auto st = troupe::check_payload(n, 0, "pull"); !st) return st;
status check_payload(std::uint64_t floats, std::uint64_t num_keys, const char* what);

/// Per-push metadata shared by dense and sparse pushes.
struct push_header {
  std::uint32_t table = 0;
  std::uint32_t worker = 0;
  std::int64_t clock = 0;
  std::uint64_t seq = 0;
  std::uint64_t pulled_version = 0;
  bool notify_applied = false;  ///< see PushRequest.notifyApplied
  bool in_order = false;        ///< see PushRequest.inOrder
  /// See PushRequest.pullAfter: after a dense push is applied, its sender
  /// wants the range's values too (with its notice).
  enum class pull_after_kind : std::uint8_t { none, bytes, shared };
  pull_after_kind pull_after = pull_after_kind::none;
  bool checked_finite = false;  ///< see PushRequest.checkedFinite
};

class flat_builder;

/// Builds a message whose float payload is filled in place through `values()`.
class payload_writer {
 public:
  payload_writer(payload_writer&&) noexcept;
  payload_writer& operator=(payload_writer&&) noexcept;
  ~payload_writer();

  /// The message's float payload, `count()` floats, to be filled by the caller.
  float* values() const { return values_; }
  std::size_t count() const { return count_; }
  /// Seals the message and returns its bytes.
  bytes finish() &&;

 protected:
  payload_writer(std::unique_ptr<flat_builder> builder);
  std::unique_ptr<flat_builder> builder_;
  float* values_ = nullptr;
  std::size_t count_ = 0;
};

/// PushRequest writer.
class push_writer : public payload_writer {
 public:
  static push_writer dense(const push_header& header, std::uint64_t offset, std::size_t count);
  /// With `name`, the push names its row ids (key caching): with `keys`
  /// too, the shard remembers them; with `keys` null, only the name travels
  /// (`num_keys` must be name->count).
  static push_writer sparse(const push_header& header, const std::uint64_t* keys,
                            std::size_t num_keys, std::uint32_t width,
                            const key_list_name* name = nullptr);

  /// Sets PushRequest.checkedFinite: call only once every value was found
  /// finite and within the largest gradient a shard applies.
  void mark_checked_finite();

 private:
  using payload_writer::payload_writer;
};

/// A caller's buffer (8-byte aligned) to build a message in, e.g. a
/// shared-memory slot; `used` is set to the message's size when it went
/// there (finish() then returns no bytes), and stays 0 when it did not fit.
struct reply_buffer {
  char* data = nullptr;
  std::size_t capacity = 0;
  std::size_t used = 0;
};

/// PullReply writer.
class pull_reply_writer : public payload_writer {
 public:
  static pull_reply_writer dense(std::uint32_t table, std::uint64_t shard_version,
                                 std::uint64_t offset, std::size_t count,
                                 reply_buffer* into = nullptr);
  /// `omit_keys`: the reply carries only the number of rows (PullRequest.omitKeys).
  static pull_reply_writer sparse(std::uint32_t table, std::uint64_t shard_version,
                                  const std::uint64_t* keys, std::size_t num_keys,
                                  std::uint32_t width, bool omit_keys = false);

 private:
  using payload_writer::payload_writer;
};

/// `accept_shared`: the reply may come as a shared-memory envelope
/// (engine/wire/shared_memory.hpp) when the shard runs on the puller's host.
/// `hold_round` (non-zero): the shard keeps its state as of this read, to
/// checkpoint the very model an evaluation scores (keep_best).
bytes encode_dense_pull(std::uint32_t table, std::uint32_t worker, std::uint64_t offset,
                        std::uint64_t count, bool accept_shared = false,
                        std::uint64_t hold_round = 0);
/// `name`: names the row ids (key caching); with `keys` null only the name
/// travels. `omit_reply_keys`: the reply leaves the ids out.
bytes encode_sparse_pull(std::uint32_t table, std::uint32_t worker, const std::uint64_t* keys,
                         std::size_t num_keys, bool accept_shared = false,
                         const key_list_name* name = nullptr, bool omit_reply_keys = false,
                         std::uint64_t hold_round = 0);

struct push_ack {
  std::uint64_t seq = 0;
  std::uint64_t shard_version = 0;
  std::uint64_t staleness = 0;
  bool duplicate = false;
};
bytes encode_push_ack(const push_ack& ack);

struct clock_advance {
  std::uint32_t worker = 0;
  std::int64_t clock = 0;
  std::uint64_t pushes_acked = 0;  ///< cumulative, since the worker started
};
bytes encode_clock_advance(const clock_advance& msg);

// --- decoded views ------------------------------------------------------------

/// Values of a dense range or of sparse rows, pointing into the message.
struct payload_view {
  bool sparse = false;
  std::uint64_t offset = 0;         ///< dense: first key
  std::vector<std::uint64_t> keys;  ///< sparse: row ids
  std::uint32_t width = 0;          ///< sparse: floats per row
  const float* values = nullptr;    ///< dense: count values; sparse: rows() * width
  std::size_t count = 0;            ///< number of floats at `values`
  key_list_name key_list;           ///< sparse: the ids' name (or a reply's row count)
  bool keys_omitted = false;        ///< sparse: `keys` left out; key_list.count rows

  std::size_t rows() const { return keys_omitted ? key_list.count : keys.size(); }
};

struct push_view : push_header, payload_view {
  std::shared_ptr<const void> keepalive;  ///< set only when the input had to be realigned
};

struct pull_request_view {
  std::uint32_t table = 0;
  std::uint32_t worker = 0;
  bool sparse = false;
  std::uint64_t offset = 0;         ///< dense
  std::uint64_t count = 0;          ///< dense
  std::vector<std::uint64_t> keys;  ///< sparse
  bool accept_shared = false;       ///< the reply may be a shared-memory envelope
  key_list_name key_list;           ///< sparse: the ids' name, when the puller gave one
  bool keys_omitted = false;        ///< sparse: only the name came; `keys` to be filled in
  bool omit_keys = false;           ///< a sparse reply leaves the ids out
  std::uint64_t hold_round = 0;     ///< non-zero: keep the state as of this read (keep_best)
};

struct pull_reply_view : payload_view {
  std::uint32_t table = 0;
  std::uint64_t shard_version = 0;
  std::shared_ptr<const void> keepalive;
};

/// Each decoder fills `out` and returns ok, or returns malformed_message /
/// version_mismatch / wrong_size. `in` must outlive the view.
status decode_push(const bytes& in, push_view& out);
/// The same over bytes that are not a `bytes` (a shared-memory slot).
status decode_push(const char* data, std::size_t size, push_view& out);
status decode_pull_request(const bytes& in, pull_request_view& out);
status decode_pull_reply(const bytes& in, pull_reply_view& out);
/// The same, of a message in place (a shared-memory slot, say).
status decode_pull_reply(const char* data, std::size_t size, pull_reply_view& out);
status decode_push_ack(const bytes& in, push_ack& out);
status decode_clock_advance(const bytes& in, clock_advance& out);

/// A decoded sparse push built again with its row ids in full (and their
/// name): what goes on to a backup that may not hold the list by name.
bytes encode_push_in_full(const push_view& push);

}  // namespace troupe
