#include "engine/job_overrides.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "engine/errors.hpp"

namespace troupe {

namespace {

[[noreturn]] void bad(const std::string& what) {
  throw troupe_error(errc::bad_config, what);
}

std::vector<std::string> split_path(const std::string& key) {
  std::vector<std::string> parts;
  std::stringstream ss(key);
  for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
  if (!key.empty() && key.back() == '.') parts.emplace_back();
  return parts;
}

// The override's value as a TOML node. Text that is no TOML value, and the
// floats inf/nan (no job key takes a non-finite number, but staleness takes
// "inf"), are strings; so is any value replacing a string, but for the keys
// that take either (a label column's index or name, say).
std::unique_ptr<toml::node> value_node(const std::string& key, const std::string& text,
                                       const toml::node* previous) {
  auto as_string = [&] { return std::make_unique<toml::value<std::string>>(text); };
  toml::table parsed;
  try {
    const std::string doc = "v = " + text;
    parsed = toml::parse(std::string_view(doc), std::string_view("--set"));
  } catch (const toml::parse_error&) {
    return as_string();
  }
  const auto* node = parsed.get("v");
  if (node == nullptr) return as_string();
  if (const auto* f = node->as_floating_point(); f != nullptr && !std::isfinite(f->get())) {
    return as_string();
  }
  // Keys that take a number or a string alike keep what the text says.
  const bool either =
      key == "data.label_column" || key == "data.header" || key == "train.staleness";
  if (!either && previous != nullptr && previous->is_string() && !node->is_string()) {
    return as_string();
  }
  std::unique_ptr<toml::node> out;
  node->visit([&](const auto& n) { out = std::make_unique<std::decay_t<decltype(n)>>(n); });
  return out;
}

void apply(toml::table& root, const job_override& o) {
  const auto parts = split_path(o.key);
  toml::table* t = &root;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    auto* node = t->get(parts[i]);
    if (node == nullptr) {
      t = t->insert(parts[i], toml::table{}).first->second.as_table();
    } else if (node->is_table()) {
      t = node->as_table();
    } else {
      bad("--set " + o.key + ": " + parts[i] + " is a value, not a section");
    }
  }
  t->insert_or_assign(parts.back(), *value_node(o.key, o.value, t->get(parts.back())));
  // model.hidden is shorthand for model.layers: the later one replaces the other.
  if (o.key == "model.hidden") t->erase("layers");
  if (o.key == "model.layers") t->erase("hidden");
}

}  // namespace

job_override parse_job_override(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos) bad("--set '" + text + "': expected KEY=VALUE");
  job_override o{text.substr(0, eq), text.substr(eq + 1)};
  for (const auto& part : split_path(o.key)) {
    if (part.empty()) bad("--set '" + text + "': the key has an empty part");
  }
  if (split_path(o.key).size() < 2) {
    bad("--set '" + text + "': the key must be a dotted path SECTION.KEY (e.g. train.staleness)");
  }
  return o;
}

std::string apply_job_overrides(std::string_view toml_text, const std::string& source,
                                const std::vector<job_override>& overrides) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << source << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
        << e.description();
    bad(msg.str());
  }
  for (const auto& o : overrides) apply(root, o);
  std::ostringstream out;
  out << root;  // floats print in their shortest round-trip form
  return out.str();
}

job_config apply_job_overrides(const job_config& job, const std::vector<job_override>& overrides,
                               bool check, const std::string& source) {
  if (overrides.empty()) return job;
  // A name (and directory) the job took from its model and data follows
  // them: `--set model.kind=x` on a job named by default is named after x.
  const bool name_derived = job.name == default_job_name(job);
  const bool dir_derived = job.output_dir == "runs/" + job.name;
  const auto given = [&](const char* key) {
    return std::any_of(overrides.begin(), overrides.end(),
                       [&](const job_override& o) { return o.key == key; });
  };
  // Files named on the command line replace the built-in set the job
  // trains on: `--set data.format=csv` on the default job was refused with
  // "give either a built-in data set or data.format with files, not both".
  auto all = overrides;
  if (given("data.format") && !given("data.set")) {
    const auto& format = std::find_if(overrides.rbegin(), overrides.rend(), [](const auto& o) {
                           return o.key == "data.format";
                         })->value;
    if (format != "\"\"" && !format.empty()) all.push_back({"data.set", "files"});
  }
  auto out = parse_job_config(apply_job_overrides(to_toml(job), "<job>", all), source, check);
  if (name_derived && !given("job.name")) out.name = default_job_name(out);
  if (dir_derived && !given("job.output_dir")) out.output_dir = "runs/" + out.name;
  out.resume_from = job.resume_from;
  out.metrics_listen = job.metrics_listen;
  out.job_file = job.job_file;
  return out;
}

}  // namespace troupe
