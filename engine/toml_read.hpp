#pragma once
// Internal to the engine's job-file readers (job_config.cpp and the section
// readers next to it): typed reads of TOML keys that throw
// troupe_error(bad_config) naming "source: section.key". Includes toml++,
// so keep it out of headers that other layers include.
//
//   read_int(*t, "epochs", "job", src, job.epochs, 1, 100000);

#include <toml++/toml.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "engine/errors.hpp"

namespace troupe::toml_read {

/// The node's value when it is a TOML integer, else nothing. Never ask
/// toml++ for node.value<integer>() instead: it converts a float too, and
/// one out of the integer's range (1e30) is undefined behaviour there.
inline std::optional<std::int64_t> integer_of(const toml::node& node) {
  if (const auto* v = node.as_integer()) return v->get();
  return std::nullopt;
}

/// Whether `d` rounds to a finite float: below the midpoint between the
/// largest float and 2^128 in magnitude. (Not `<= FLT_MAX`: a float written
/// with 9 digits, as the job writers do, may read back a little above it and
/// must still be accepted, rounding to the same float.)
inline bool fits_float(double d) {
  return std::fabs(d) < 0x1.ffffffp+127;
}

[[noreturn]] inline void bad(const std::string& source, const std::string& key,
                             const std::string& why) {
  throw troupe_error(errc::bad_config, source + ": " + key + ": " + why);
}

/// Rejects keys a section does not know, so typos never pass silently.
inline void check_keys(const toml::table& t, const std::string& source, const std::string& section,
                       const std::set<std::string>& known) {
  for (const auto& [key, value] : t) {
    const std::string k(key.str());
    if (!known.count(k)) {
      std::string list;
      for (const auto& n : known) list += (list.empty() ? "" : ", ") + n;
      bad(source, section.empty() ? k : section + "." + k, "unknown key (known: " + list + ")");
    }
  }
}

template <class T>
void read_int(const toml::table& t, const char* key, const std::string& path,
              const std::string& src, T& out, long long min, long long max) {
  const auto* node = t.get(key);
  if (node == nullptr) return;
  const auto v = integer_of(*node);
  if (!v) bad(src, path + "." + key, "expected an integer");
  if (*v < min || *v > max) {
    bad(src, path + "." + key,
        std::to_string(*v) + " is out of range [" + std::to_string(min) + ", " +
            std::to_string(max) + "]");
  }
  out = static_cast<T>(*v);
}

inline void read_double(const toml::table& t, const char* key, const std::string& path,
                        const std::string& src, double& out) {
  const auto* node = t.get(key);
  if (node == nullptr) return;
  auto v = node->value<double>();
  if (!(node->is_floating_point() || node->is_integer()) || !v || !std::isfinite(*v)) {
    bad(src, path + "." + key, "expected a finite number");
  }
  out = *v;
}

inline void read_float(const toml::table& t, const char* key, const std::string& path,
                       const std::string& src, float& out) {
  double d = out;
  read_double(t, key, path, src, d);
  // A finite double that would round to an infinite float (lr = 1e300).
  if (!fits_float(d)) {
    bad(src, path + "." + key, "is out of a float's range (magnitude at most 3.4e38)");
  }
  out = static_cast<float>(d);
}

inline void read_string(const toml::table& t, const char* key, const std::string& path,
                        const std::string& src, std::string& out) {
  const auto* node = t.get(key);
  if (node == nullptr) return;
  auto v = node->value<std::string>();
  if (!node->is_string() || !v) bad(src, path + "." + key, "expected a string");
  out = *v;
}

inline void read_bool(const toml::table& t, const char* key, const std::string& path,
                      const std::string& src, bool& out) {
  const auto* node = t.get(key);
  if (node == nullptr) return;
  if (!node->is_boolean()) bad(src, path + "." + key, "expected true or false");
  out = *node->value<bool>();
}

/// "text" quoted for TOML output: quotes, backslashes and control
/// characters escaped (a TOML basic string may hold none of them raw, so a
/// path with a carriage return would otherwise be written unreadable).
inline std::string quote(const std::string& text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out = "\"";
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace troupe::toml_read
