#include "engine/job_update_section.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "engine/errors.hpp"
#include "engine/toml_read.hpp"

namespace troupe {

namespace {

using toml_read::bad;
using toml_read::integer_of;

void read_non_negative(const toml::table& t, const char* key, const std::string& path,
                       const std::string& src, float& out) {
  const auto* node = t.get(key);
  if (node == nullptr) return;
  const auto v = node->value<double>();
  if (!(node->is_floating_point() || node->is_integer()) || !v || !std::isfinite(*v) || *v < 0 ||
      !toml_read::fits_float(*v)) {
    bad(src, path + "." + key, "expected a finite number >= 0 (at most 3.4e38)");
  }
  out = static_cast<float>(*v);
}

void read_pushes(const toml::table& t, const char* key, const std::string& path,
                 const std::string& src, std::uint64_t& out) {
  const auto* node = t.get(key);
  if (node == nullptr) return;
  const auto v = integer_of(*node);
  if (!v || *v < 0) bad(src, path + "." + key, "expected pushes, >= 0");
  out = static_cast<std::uint64_t>(*v);
}

// One rule's keys over `base` (the section's defaults for a table override).
update_rule_spec read_rule(const toml::table& t, const std::string& path, const std::string& src,
                           update_rule_spec base) {
  std::string rule;
  toml_read::read_string(t, "rule", path, src, rule);
  if (!rule.empty()) {
    try {
      base.kind = parse_update_rule_kind(rule);
    } catch (const std::invalid_argument& e) {
      bad(src, path + ".rule", e.what());
    }
  }
  read_non_negative(t, "dc_lambda", path, src, base.dc_lambda);
  read_non_negative(t, "clip_norm", path, src, base.clip_norm);
  read_pushes(t, "min_staleness", path, src, base.min_staleness);
  read_pushes(t, "warmup_pushes", path, src, base.warmup_pushes);
  read_pushes(t, "half_life_pushes", path, src, base.half_life_pushes);
  return base;
}

const char* const kRuleKeys =
    "rule, dc_lambda, clip_norm, min_staleness, warmup_pushes, half_life_pushes";

bool is_rule_key(const std::string& key) {
  return key == "rule" || key == "dc_lambda" || key == "clip_norm" || key == "min_staleness" ||
         key == "warmup_pushes" || key == "half_life_pushes";
}

}  // namespace

void parse_update_section(const toml::table& section, const std::string& src, job_config& job) {
  update_rules rules;
  rules.all = read_rule(section, "update", src, rules.all);
  for (const auto& [key, value] : section) {
    const std::string name(key.str());
    if (is_rule_key(name)) continue;
    const auto* table = value.as_table();
    if (table == nullptr) {
      bad(src, "update." + name,
          std::string("unknown key (known: ") + kRuleKeys +
              ", and [update.<table name>] sections)");
    }
    for (const auto& [inner, ignored] : *table) {
      if (!is_rule_key(std::string(inner.str()))) {
        bad(src, "update." + name + "." + std::string(inner.str()),
            std::string("unknown key (known: ") + kRuleKeys + ")");
      }
    }
    rules.tables.emplace_back(name, read_rule(*table, "update." + name, src, rules.all));
  }
  job.update = std::move(rules);
}

namespace {

void rule_lines(std::ostringstream& out, const update_rule_spec& r) {
  out << "rule = \"" << to_string(r.kind) << "\"\ndc_lambda = " << r.dc_lambda
      << "\nclip_norm = " << r.clip_norm << "\nmin_staleness = " << r.min_staleness
      << "\nwarmup_pushes = " << r.warmup_pushes << "\nhalf_life_pushes = " << r.half_life_pushes
      << "\n";
}

}  // namespace

std::string update_section_toml(const update_rules& rules) {
  if (rules.all == update_rule_spec{} && rules.tables.empty()) return "";
  std::ostringstream out;
  out.precision(9);  // floats round-trip exactly
  out << "\n[update]\n";
  rule_lines(out, rules.all);
  for (const auto& [name, rule] : rules.tables) {
    out << "\n[update." << toml_read::quote(name) << "]\n";
    rule_lines(out, rule);
  }
  return out.str();
}

}  // namespace troupe
