#pragma once
// Internal to the engine's codecs (wire_codec, pipeline_codec): building a
// Cap'n Proto message straight into the byte vector that travels, and
// reading one under explicit limits with every complaint turned into a
// status.
//
//   flat_builder b(hint_words);
//   auto msg = b.initRoot<wire::PushAck>();  ...
//   bytes out = b.finish();
//   return with_reader(out, nullptr, [&](capnp::MessageReader& r) -> status { ... });

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/errors.hpp"
#include "engine/wire/wire_codec.hpp"

namespace troupe {

/// A MessageBuilder whose first segment lives inside the byte vector that is
/// sent, behind room for the 8-byte segment table: with a good size hint the
/// finished message needs no copy at all.
class flat_builder : public capnp::MessageBuilder {
 public:
  /// `payload_words`: the size of a blob the caller allocates last and
  /// overwrites entirely; those words at the end of the hint are not zeroed.
  explicit flat_builder(std::size_t hint_words, std::size_t payload_words = 0,
                        reply_buffer* into = nullptr)
      : hint_words_(std::max<std::size_t>(hint_words, 16)),
        payload_words_(std::min(payload_words, hint_words_)),
        into_(into) {}

  kj::ArrayPtr<capnp::word> allocateSegment(unsigned minimum_size) override {
    std::size_t words = std::max<std::size_t>(minimum_size, hint_words_);
    if (first_ == nullptr) {
      // Cap'n Proto needs zeroed segments, except where the payload goes: it
      // is the last allocation, so it lies in the last payload_words words or
      // (with a generous hint) before them, overlapping them; what follows it
      // is cut off by finish().
      char* at = nullptr;
      if (into_ != nullptr && into_->data != nullptr && 8 + words * 8 <= into_->capacity) {
        at = into_->data;  // the caller's buffer: nothing to copy afterwards
      } else {
        into_ = nullptr;
        buffer_.resize(8 + words * 8);
        at = buffer_.data();
      }
      const std::size_t zeroed = 8 + (words - (words == hint_words_ ? payload_words_ : 0)) * 8;
      std::memset(at, 0, zeroed);
      first_ = reinterpret_cast<capnp::word*>(at + 8);
      return {first_, words};
    }
    // Only reached when the hint was too small; finish() then copies once.
    extra_.emplace_back(words);
    return {extra_.back().data(), words};
  }

  bytes finish() {
    auto segments = getSegmentsForOutput();
    if (segments.size() == 1 && segments[0].begin() == first_) {
      // The segment table goes in the 8 bytes kept free before the segment.
      const std::uint32_t table[2] = {0, static_cast<std::uint32_t>(segments[0].size())};
      const std::size_t size = 8 + segments[0].size() * 8;
      std::memcpy(into_ != nullptr ? into_->data : buffer_.data(), table, sizeof(table));
      if (into_ != nullptr) {
        into_->used = size;
        return {};
      }
      buffer_.resize(size);
      return std::move(buffer_);
    }
    auto flat = capnp::messageToFlatArray(segments);
    auto raw = flat.asBytes();
    return bytes(reinterpret_cast<const char*>(raw.begin()),
                 reinterpret_cast<const char*>(raw.end()));
  }

 private:
  std::size_t hint_words_;
  std::size_t payload_words_;
  reply_buffer* into_;  // null: the message goes into buffer_
  bytes buffer_;
  capnp::word* first_ = nullptr;
  std::vector<std::vector<capnp::word>> extra_;
};

// Runs `f(reader)` over `in`, turning every Cap'n Proto complaint into a
// status. Input that is not 8-byte aligned is copied once into words; the
// copy is handed to `keepalive` when views must outlive this call.
template <class F>
inline status with_reader(const char* data, std::size_t size,
                          std::shared_ptr<const void>* keepalive, F&& f) {
  if (size < 8 || size % 8 != 0) {
    return {errc::malformed_message,
            "message of " + std::to_string(size) + " bytes is not a whole number of words"};
  }
  const std::size_t n_words = size / 8;
  kj::ArrayPtr<const capnp::word> words;
  std::shared_ptr<std::vector<capnp::word>> copy;
  if (reinterpret_cast<std::uintptr_t>(data) % alignof(capnp::word) == 0) {
    words = {reinterpret_cast<const capnp::word*>(data), n_words};
  } else {
    copy = std::make_shared<std::vector<capnp::word>>(n_words);
    std::memcpy(copy->data(), data, size);
    words = {copy->data(), n_words};
    if (keepalive != nullptr) *keepalive = copy;
  }
  capnp::ReaderOptions options;
  options.traversalLimitInWords = 2 * n_words + 64;  // each word at most twice
  options.nestingLimit = 8;
  try {
    capnp::FlatArrayMessageReader reader(words, options);
    if (reader.getEnd() != words.end()) {
      return {errc::malformed_message, "trailing bytes after the message"};
    }
    return f(reader);
  } catch (const kj::Exception& e) {
    return {errc::malformed_message, e.getDescription().cStr()};
  }
}

template <class F>
inline status with_reader(const bytes& in, std::shared_ptr<const void>* keepalive, F&& f) {
  return with_reader(in.data(), in.size(), keepalive, std::forward<F>(f));
}

}  // namespace troupe
