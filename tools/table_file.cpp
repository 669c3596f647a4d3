#include "tools/table_file.hpp"

#include <toml++/toml.h>

#include <cmath>
#include <limits>
#include <set>

#include "engine/errors.hpp"
#include "engine/toml_read.hpp"

namespace troupe::cli {

namespace {

[[noreturn]] void fail(const std::string& where, const std::string& why) {
  throw troupe_error(errc::bad_config, where + ": " + why);
}

template <class T>
T get(const toml::table& t, const char* key, const std::string& where, T fallback) {
  const auto* node = t.get(key);
  if (!node) return fallback;
  if constexpr (std::is_same_v<T, std::string>) {
    if (auto v = node->value<std::string>()) return *v;
    fail(where, std::string(key) + " must be a string");
  } else if constexpr (std::is_floating_point_v<T>) {
    const auto v = node->value<double>();
    if (!v) fail(where, std::string(key) + " must be a number");
    // Finite, and finite as a float too (lr = 1e300 would become infinite).
    if (!std::isfinite(*v) || (std::is_same_v<T, float> && !toml_read::fits_float(*v))) {
      fail(where, std::string(key) + " must be a finite number within a float's range");
    }
    return static_cast<T>(*v);
  } else {
    const auto v = toml_read::integer_of(*node);
    if (!v || *v < 0) fail(where, std::string(key) + " must be a non-negative integer");
    // A cast alone would wrap (shards = 4294967298 would start 2).
    if (static_cast<std::uint64_t>(*v) > std::numeric_limits<T>::max()) {
      fail(where, std::string(key) + " = " + std::to_string(*v) + " is above its limit " +
                      std::to_string(std::numeric_limits<T>::max()));
    }
    return static_cast<T>(*v);
  }
}

optimizer_type parse_optimizer(const std::string& name, const std::string& where) {
  if (name == "sgd") return optimizer_type::sgd;
  if (name == "momentum") return optimizer_type::momentum;
  if (name == "adagrad") return optimizer_type::adagrad;
  if (name == "adam") return optimizer_type::adam;
  fail(where, "optimizer must be sgd, momentum, adagrad or adam, not '" + name + "'");
}

table read_table(const toml::table& t, const std::string& where) {
  static const std::set<std::string> known{"name", "kind", "width", "size",     "optimizer",
                                           "lr",   "init", "seed",  "max_rows", "max_row_id"};
  for (const auto& [key, value] : t) {
    if (known.count(std::string(key.str())) == 0)
      fail(where, "unknown key '" + std::string(key.str()) + "'");
  }
  const auto name = get<std::string>(t, "name", where, "");
  if (name.empty()) fail(where, "a table needs a name");
  const auto kind = get<std::string>(t, "kind", where, "sparse");
  table out;
  // A key of the other kind would be ignored (a sparse table given `size`
  // as its bound would be unbounded): refused, naming the right one.
  const auto not_for = [&](const char* key, const char* instead) {
    if (t.contains(key)) {
      fail(where, std::string("'") + key + "' is not a key of a " + kind + " table" + instead);
    }
  };
  if (kind == "sparse") {
    not_for("size", " (its rows per shard: max_rows; its largest id: max_row_id)");
  } else if (kind == "dense") {
    not_for("width", " (a dense table is a vector of `size` floats)");
    not_for("max_rows", "");
    not_for("max_row_id", "");
  }
  if (kind == "sparse") {
    out = table::sparse(name, get<std::uint32_t>(t, "width", where, 1));
    out.max_rows(get<std::uint64_t>(t, "max_rows", where, 0));
    out.max_row_id(get<std::uint64_t>(t, "max_row_id", where, 0));
  } else if (kind == "dense") {
    out = table::dense(name, get<std::uint64_t>(t, "size", where, 0));
  } else {
    fail(where, "kind must be \"sparse\" or \"dense\"");
  }
  out.optimizer.type = parse_optimizer(get<std::string>(t, "optimizer", where, "sgd"), where);
  out.optimizer.learning_rate = get<float>(t, "lr", where, 0.05f);
  out.init(get<float>(t, "init", where, 0.0f));
  out.with_seed(get<std::uint64_t>(t, "seed", where, 1));
  return out;
}

}  // namespace

namespace {

engine_options read_tables(const toml::table& doc, const std::string& path) {
  engine_options opts;
  for (const auto& [key, value] : doc) {
    if (key.str() != "shards" && key.str() != "table")
      fail(path, "unknown key '" + std::string(key.str()) + "'");
  }
  opts.shards = get<std::uint32_t>(doc, "shards", path, 2);
  const auto* tables = doc.get_as<toml::array>("table");
  if (!tables || tables->empty()) fail(path, "no [[table]]");
  for (std::size_t i = 0; i < tables->size(); ++i) {
    const auto* t = tables->get_as<toml::table>(i);
    const auto where = path + ": table " + std::to_string(i + 1);
    if (!t) fail(where, "must be a table");
    opts.tables.push_back(read_table(*t, where));
  }
  return opts;
}

}  // namespace

engine_options load_table_file(const std::string& path) {
  toml::table doc;
  try {
    doc = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    fail(path, std::string(e.description()));
  }
  return read_tables(doc, path);
}

engine_options parse_table_file(std::string_view text, const std::string& source) {
  toml::table doc;
  try {
    doc = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    fail(source, std::string(e.description()));
  }
  return read_tables(doc, source);
}

}  // namespace troupe::cli
