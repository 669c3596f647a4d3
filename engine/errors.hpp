#pragma once
// Typed errors of the engine. The actor layer maps `errc` onto `caf::error`
// (category "troupe"), so the same codes reach a remote caller.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace troupe {

enum class errc : std::uint8_t {
  ok = 0,
  malformed_message,  ///< bytes that are no valid Cap'n Proto message of the expected type
  version_mismatch,   ///< protocol version not spoken by the receiver
  wrong_size,         ///< lengths or ranges that do not match the table
  non_finite,         ///< NaN or infinite values in a gradient
  unknown_table,      ///< table id or name not known to the receiver
  out_of_range,       ///< key outside the receiver's range
  timeout,            ///< a remote peer did not answer in time
  peer_lost,          ///< a remote peer went down
  io_error,           ///< file or network I/O failed
  bad_config,         ///< invalid job configuration
  missing_dataset,    ///< dataset files are not installed
  stopped,            ///< the job was stopped
  shared_memory,      ///< a same-host shared-memory message could not be read: send it inline
  out_of_order,       ///< a push skipped a seq the receiver has not applied: resend from there
  unknown_key_list,   ///< a request named row ids the receiver does not hold: send them in full
  no_capacity,        ///< a node has no free slot for the request now: try again later
  node_stopping,      ///< the node hosting an actor is stopping (drained): like a lost node
  out_of_memory,      ///< the receiver could not allocate what the request needed
  auth_failed,        ///< a node refused this process's credentials (the cluster secret)
};

/// Stable lower-case name of an error code, e.g. "wrong_size".
const char* to_string(errc code);

/// An error code with a human-readable context message.
class status {
 public:
  status() = default;
  status(errc code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == errc::ok; }
  explicit operator bool() const { return ok(); }
  errc code() const { return code_; }
  const std::string& message() const { return message_; }
  /// "wrong_size: push of 12 values at offset 4 exceeds range [0, 10)".
  std::string to_string() const;

 private:
  errc code_ = errc::ok;
  std::string message_;
};

/// Thrown at configuration and I/O boundaries (job files, datasets,
/// checkpoints) where the caller can only report and stop.
class troupe_error : public std::runtime_error {
 public:
  troupe_error(errc code, const std::string& message) : std::runtime_error(message), code_(code) {}
  errc code() const { return code_; }

 private:
  errc code_;
};

}  // namespace troupe
