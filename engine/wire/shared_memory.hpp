#pragma once
// Same-host transport for large messages between Troupe processes (node
// daemons on one machine). Through CAF's BASP a 470 KB pull reply or push is
// copied four times (serialise, socket send, socket receive, deserialise)
// and crosses loopback TCP; here the sender copies it once into a slot of
// its own shared-memory region and sends a ~100-byte SharedBytes envelope
// (schemas/troupe.capnp) through CAF instead; the receiver copies it out
// once and frees the slot. The message inside stays the same Cap'n Proto
// bytes.
//
//   shared_memory shm;                        // one per process
//   if (auto env = shm.share(msg)) send(*env); else send(msg);
//   // or build the message in a slot, then publish it (no copy at all):
//   if (auto w = shm.begin_write()) { n = build(w.data(), w.capacity()); env = shm.publish(w, n); }
//   ...
//   if (is_shared_envelope(in)) {
//     bytes msg;
//     if (auto st = shm.take(in, msg); !st) reject(st);
//   }
//   // or read it in place, and hand the same envelope on to a third process:
//   shared_slot slot;
//   if (auto st = shm.claim(in, slot); !st) reject(st);
//   apply(slot.data(), slot.size());
//   slot.pass_on();  send(in);                // else the slot is freed here
//
// The region is a sealed memfd (it cannot shrink, so a reader never faults
// on a truncated mapping, and it dies with its process); another process
// opens it as /proc/<pid>/fd/<fd>, which the kernel allows to the same user
// only, and the reader checks the owner, the seals and a random 64-bit token
// that only envelopes carry. Each slot's state word (generation, phase) is
// claimed with compare-and-swap, so a slot is read by one reader at a time
// and freed once, and a slot nobody took within `expiry` (its reader died)
// is taken back by its writer, as is one whose reader died while reading
// it in place (each claim signs the slot with the reader's pid). When no slot is free, the message
// is too large or memfd is unavailable, share() returns nothing and the caller sends the bytes as
// before: shared memory only ever makes a send cheaper. Trust: a process of the same user could
// change a slot while it is read in place; the same user could as well ptrace the daemon.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "engine/errors.hpp"
#include "engine/wire/wire_codec.hpp"

namespace troupe {

struct shared_memory_limits {
  std::uint32_t slots = 48;                       ///< messages in flight from this process
  std::size_t slot_bytes = std::size_t{1} << 20;  ///< larger messages go inline
  /// An untaken slot is reclaimed after this: long, because a reader that
  /// is merely slow would lose the message (its sender resends, but a push
  /// resent late may arrive behind newer ones); only dead readers get here.
  std::chrono::milliseconds expiry{600000};
  std::size_t max_peers = 32;  ///< other processes' regions kept mapped
  /// A slot read in place for longer than this is taken back once its
  /// reader has died (killed mid-step: only the reader itself frees a slot it
  /// reads). Only long-held slots are looked at, so that the check (a
  /// signal 0 to the reader's pid) stays off the path of every message.
  std::chrono::milliseconds reader_check{2000};
};

/// True when `msg` is a SharedBytes envelope rather than a message itself.
bool is_shared_envelope(const bytes& msg);

/// A slot claimed from some process's region: readable in place until it is
/// destroyed (which frees the slot) or passed on.
class shared_slot {
 public:
  shared_slot() = default;
  shared_slot(shared_slot&& other) noexcept { *this = std::move(other); }
  shared_slot& operator=(shared_slot&& other) noexcept;
  shared_slot(const shared_slot&) = delete;
  shared_slot& operator=(const shared_slot&) = delete;
  ~shared_slot() { release(false); }

  const char* data() const { return data_; }
  std::size_t size() const { return size_; }
  explicit operator bool() const { return data_ != nullptr; }
  /// Leaves the slot readable by the same envelope (sent on to another
  /// process, which frees it) instead of freeing it.
  void pass_on() { release(true); }

 private:
  friend class shared_memory;
  void release(bool keep);
  std::shared_ptr<const void> region_;  // keeps the mapping
  std::atomic<std::uint64_t>* state_ = nullptr;
  std::atomic<std::uint64_t>* reader_ = nullptr;  // the slot's reader signature
  std::uint64_t generation_ = 0;
  const char* data_ = nullptr;
  std::size_t size_ = 0;
};

/// A slot of this process's region being written in place; published by
/// shared_memory::publish, or freed unpublished when destroyed.
class shared_write {
 public:
  shared_write() = default;
  shared_write(shared_write&& other) noexcept { *this = std::move(other); }
  shared_write& operator=(shared_write&& other) noexcept;
  shared_write(const shared_write&) = delete;
  shared_write& operator=(const shared_write&) = delete;
  ~shared_write() { release(); }

  /// 8-byte aligned, capacity() bytes.
  char* data() const { return data_; }
  std::size_t capacity() const { return capacity_; }
  explicit operator bool() const { return data_ != nullptr; }

 private:
  friend class shared_memory;
  void release();
  std::atomic<std::uint64_t>* state_ = nullptr;
  std::uint64_t generation_ = 0;
  std::uint32_t slot_ = 0;
  char* data_ = nullptr;
  std::size_t capacity_ = 0;
};

class shared_memory {
 public:
  explicit shared_memory(shared_memory_limits limits = {});
  ~shared_memory();
  shared_memory(const shared_memory&) = delete;
  shared_memory& operator=(const shared_memory&) = delete;

  /// Ok when this process's region exists (it is made by the constructor;
  /// its pages are allocated as slots are first written); otherwise why
  /// not, and share() always declines.
  const status& available() const { return available_; }

  /// Copies `msg` into a free slot of this process's region and returns its
  /// envelope; nothing when the caller must send `msg` itself.
  std::optional<bytes> share(const bytes& msg);

  /// A free slot to build a message in; empty (counted as inline) when none.
  shared_write begin_write();
  /// Publishes the first `size` bytes of `w`'s slot and returns their
  /// envelope; nothing (the slot freed) when `size` is 0 or over capacity.
  std::optional<bytes> publish(shared_write& w, std::size_t size);

  /// Claims the slot an envelope names. Errors (malformed, foreign or
  /// unknown region, slot already taken or reclaimed) leave `out` empty.
  status claim(const bytes& envelope, shared_slot& out);

  /// Copies the message an envelope names into `out` and frees its slot.
  status take(const bytes& envelope, bytes& out);

  /// Unmaps the other processes' regions this one keeps mapped (they are
  /// mapped again on their next envelope). A region stays mapped, with its
  /// touched pages resident, until then: a node calls this when idle, so
  /// that the regions of peers that have since died (a restarted daemon, a
  /// finished job's driver) do not pile up across jobs. Returns how many.
  std::size_t forget_peers();
  /// Other processes' regions mapped now.
  std::size_t peers_mapped() const;

  struct counters {
    std::uint64_t shared = 0;     ///< messages sent through a slot
    std::uint64_t inline_ = 0;    ///< share() declined: no free slot or too large
    std::uint64_t taken = 0;      ///< envelopes resolved by this process
    std::uint64_t reclaimed = 0;  ///< slots taken back: after `expiry`, or from a dead reader
  };
  counters stats() const;

 private:
  struct region;
  status create_region();
  status open_peer(std::uint32_t pid, std::int32_t fd, std::uint64_t token,
                   std::shared_ptr<region>& out);

  shared_memory_limits limits_;
  std::unique_ptr<region> own_;  // set once by the constructor; null when unavailable
  status available_;
  std::atomic<std::uint32_t> cursor_{0};
  mutable std::mutex peers_mu_;  // guards peers_ and peer_uses_
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::shared_ptr<region>> peers_;
  std::uint64_t peer_uses_ = 0;
  std::atomic<std::uint64_t> shared_{0}, inline_{0}, taken_{0}, reclaimed_{0};
};

}  // namespace troupe
