#pragma once
// Typed errors and results of the public API (engine.hpp, client.hpp).
// Every call returns a `result<T>`: a value or an `api_error` with a code a
// program can branch on and a message a person can act on.
//
//   troupe::result<troupe::rows> r = client.lookup("emb", {7, 9}).get();
//   if (!r) std::cerr << r.error().to_string() << "\n";   // "timeout: shard 1 ..."
//   else use(r->row(0));

#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace troupe {

enum class api_errc {
  ok = 0,
  bad_argument,   ///< invalid options or a call that makes no sense (pull on a sparse table)
  unknown_table,  ///< no table of that name
  wrong_width,    ///< gradient length does not match ids x width (or the dense range)
  out_of_range,   ///< a row id above a bounded table's max_row_id, a range past a dense table
  non_finite,     ///< NaN, infinite or |g| >= 2^50 gradient values; nothing was applied
  timeout,        ///< no answer within the call's timeout
  peer_lost,      ///< the shard (or the remote engine) went away
  unreachable,    ///< cannot connect, or nothing Troupe listens at that address
  auth_failed,    ///< wrong cluster secret (either side)
  stopped,        ///< the client or its engine was stopped (also a remote engine stopped
                  ///< on purpose), or the client was moved from
  internal,       ///< anything else; the message says what
  overloaded,     ///< the client's queue was full: refused at once, nothing was sent
};

/// Stable lower-case name, e.g. "wrong_width". Inline: a workload plugin
/// uses these headers without linking a Troupe library.
inline const char* to_string(api_errc code) {
  switch (code) {
    case api_errc::ok:
      return "ok";
    case api_errc::bad_argument:
      return "bad_argument";
    case api_errc::unknown_table:
      return "unknown_table";
    case api_errc::wrong_width:
      return "wrong_width";
    case api_errc::out_of_range:
      return "out_of_range";
    case api_errc::non_finite:
      return "non_finite";
    case api_errc::timeout:
      return "timeout";
    case api_errc::peer_lost:
      return "peer_lost";
    case api_errc::unreachable:
      return "unreachable";
    case api_errc::auth_failed:
      return "auth_failed";
    case api_errc::stopped:
      return "stopped";
    case api_errc::overloaded:
      return "overloaded";
    case api_errc::internal:
      return "internal";
  }
  return "internal";
}

struct api_error {
  api_errc code = api_errc::internal;
  std::string message;
  /// "wrong_width: table 'emb': 3 gradient values for 1 row of width 4".
  std::string to_string() const { return std::string(troupe::to_string(code)) + ": " + message; }
};

/// Thrown by result::value() when there is no value.
class bad_result_access : public std::logic_error {
 public:
  explicit bad_result_access(const api_error& e) : std::logic_error(e.to_string()), error_(e) {}
  const api_error& error() const { return error_; }

 private:
  api_error error_;
};

/// A value or an error.
///
///   auto r = troupe::engine::start(opts);
///   if (!r) return fail(r.error());
///   troupe::engine e = std::move(r).value();
template <class T>
class result {
 public:
  result(T value) : v_(std::move(value)) {}
  /// An error; one of code ok has no value to give, and is `internal`.
  result(api_error error) : v_(no_ok(std::move(error))) {}
  result(api_errc code, std::string message) : result(api_error{code, std::move(message)}) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  /// The error; for a value, one of code ok (as result<void> gives).
  const api_error& error() const {
    static const api_error none{api_errc::ok, {}};
    return ok() ? none : std::get<1>(v_);
  }
  /// The value; throws bad_result_access for an error.
  T& value() & { return check(), std::get<0>(v_); }
  const T& value() const& { return check(), std::get<0>(v_); }
  T&& value() && { return check(), std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  void check() const {
    if (!ok()) throw bad_result_access(error());
  }
  static api_error no_ok(api_error e) {
    if (e.code == api_errc::ok) e = {api_errc::internal, "an error of code ok: " + e.message};
    return e;
  }
  std::variant<T, api_error> v_;
};

/// Success or an error, for calls without a value (push).
template <>
class result<void> {
 public:
  result() = default;
  result(api_error error) : error_(std::move(error)) {}
  result(api_errc code, std::string message) : error_{code, std::move(message)} {}

  bool ok() const { return error_.code == api_errc::ok; }
  explicit operator bool() const { return ok(); }
  const api_error& error() const { return error_; }

 private:
  api_error error_{api_errc::ok, {}};
};

}  // namespace troupe
