#include "tools/node_config.hpp"

#include <toml++/toml.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "actors/job_lease.hpp"
#include "engine/errors.hpp"
#include "engine/job_config.hpp"
#include "engine/toml_read.hpp"

namespace troupe::cli {

namespace {

[[noreturn]] void fail(const std::string& source, const std::string& key, const std::string& why) {
  throw troupe_error(errc::bad_config, source + ": " + key + ": " + why);
}

void check_keys(const toml::table& t, const std::string& source, const std::string& prefix,
                const std::set<std::string>& known) {
  for (const auto& [key, value] : t) {
    const std::string k{key.str()};
    if (known.count(k) == 0) fail(source, prefix + k, "unknown key");
  }
}

void read(const toml::table& t, const char* key, const std::string& source,
          const std::string& prefix, std::string& out) {
  const auto* node = t.get(key);
  if (node == nullptr) return;
  const auto v = node->value<std::string>();
  if (!node->is_string() || !v) fail(source, prefix + key, "must be a string");
  out = *v;
}

}  // namespace

node_config parse_node_config(std::string_view text, const std::string& source) {
  toml::table doc;
  try {
    doc = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << e.source().begin;
    throw troupe_error(errc::bad_config,
                       source + ": " + std::string(e.description()) + " at " + where.str());
  }
  node_config c;
  check_keys(doc, source, "",
             {"listen", "name", "slots", "threads", "metrics", "secret_file", "data_dir",
              "checkpoint_dir", "auth_timeout_s", "lease_timeout_s", "drain_timeout_s",
              "peer_timeout_s", "shared_memory", "tls"});
  read(doc, "listen", source, "", c.listen);
  read(doc, "name", source, "", c.name);
  read(doc, "metrics", source, "", c.metrics);
  read(doc, "secret_file", source, "", c.secret_file);
  read(doc, "data_dir", source, "", c.data_dir);
  read(doc, "checkpoint_dir", source, "", c.checkpoint_dir);
  if (const auto* node = doc.get("slots")) {
    const auto v = toml_read::integer_of(*node);
    if (!v || *v < 1 || *v > 4096) {
      fail(source, "slots", "must be an integer in [1, 4096]");
    }
    c.slots = static_cast<std::uint32_t>(*v);
  }
  if (const auto* node = doc.get("threads")) {
    const auto v = toml_read::integer_of(*node);
    if (!v || *v < 0 || *v > 1024) {
      fail(source, "threads", "must be an integer in [0, 1024] (0: one per core)");
    }
    c.threads = static_cast<std::uint32_t>(*v);
  }
  const auto seconds = [&](const char* key, double lo, double hi, double& out) {
    const auto* node = doc.get(key);
    if (node == nullptr) return;
    const auto v = node->value<double>();
    if (!v || !std::isfinite(*v) || *v < lo || *v > hi) {
      std::ostringstream why;
      why << "must be a number of seconds in [" << lo << ", " << hi << "]";
      fail(source, key, why.str());
    }
    out = *v;
  };
  seconds("auth_timeout_s", 0.1, 3600, c.auth_timeout_s);
  seconds("lease_timeout_s", static_cast<double>(min_lease_timeout.count()) / 1e3, 86400,
          c.lease_timeout_s);
  seconds("drain_timeout_s", 0, 60, c.drain_timeout_s);
  seconds("peer_timeout_s", min_peer_timeout_s, max_peer_timeout_s, c.peer_timeout_s);
  if (const auto* node = doc.get("shared_memory")) {
    const auto v = node->value<bool>();
    if (!node->is_boolean() || !v) fail(source, "shared_memory", "must be true or false");
    c.shared_memory = *v;
  }
  if (const auto* node = doc.get("tls")) {
    const auto* t = node->as_table();
    if (t == nullptr) fail(source, "tls", "must be a table ([tls])");
    check_keys(*t, source, "tls.", {"certificate", "key", "ca", "passphrase_file"});
    read(*t, "certificate", source, "tls.", c.tls.certificate);
    read(*t, "key", source, "tls.", c.tls.key);
    read(*t, "ca", source, "tls.", c.tls.ca);
    read(*t, "passphrase_file", source, "tls.", c.tls.passphrase_file);
  }
  try {
    parse_address(c.listen, true);
    if (c.metrics != "0" && !c.metrics.empty()) parse_address(c.metrics, true);
  } catch (const troupe_error& e) {
    throw troupe_error(errc::bad_config, source + ": " + e.what());
  }
  return c;
}

node_config load_node_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    // Why, as the secret file's check says it (a daemon user's "Permission
    // denied" read as a missing file).
    throw troupe_error(errc::io_error,
                       "cannot read the node configuration " + path + ": " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_node_config(text.str(), path);
}

}  // namespace troupe::cli
