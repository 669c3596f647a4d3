#include "engine/straggler.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "engine/errors.hpp"

namespace troupe {

namespace {

constexpr const char* grammar =
    "expected 'none' or parts joined with '+': fixed:worker=W,factor=F | "
    "random:dist=exp|uniform,mean_ms=M[,workers=all|W] | dai:max_delay=D "
    "(e.g. fixed:worker=0,factor=3+random:dist=exp,mean_ms=2)";

// Every parse error carries the whole spec, the part at fault and the
// grammar: the spec usually arrives from a job file or a sweep flag, far
// from any documentation.
[[noreturn]] void bad(const std::string& text, const std::string& part, const std::string& why) {
  std::string msg = "stragglers '" + text + "': ";
  if (!part.empty()) msg += "part '" + part + "': ";
  throw troupe_error(errc::bad_config, msg + why + "; " + grammar);
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto pos = s.find(sep, start);
    out.push_back(trim(s.substr(start, pos == std::string::npos ? pos : pos - start)));
    if (pos == std::string::npos) return out;
    start = pos + 1;
  }
}

// The key=value items of one part, checked against the keys its kind knows.
class part_reader {
 public:
  part_reader(const std::string& text, const std::string& part, const std::string& kind,
              const std::string& body, const std::vector<std::string>& known)
      : text_(text), part_(part) {
    std::string known_list;
    for (const auto& k : known) known_list += (known_list.empty() ? "" : ", ") + k;
    for (const auto& item : split(body, ',')) {
      if (item.empty()) fail("empty key=value item (a stray ',')");
      const auto eq = item.find('=');
      if (eq == std::string::npos) fail("'" + item + "' is not key=value");
      const auto key = trim(item.substr(0, eq));
      const auto value = trim(item.substr(eq + 1));
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        fail("unknown key '" + key + "' for " + kind + " (keys: " + known_list + ")");
      }
      if (value.empty()) fail("key '" + key + "' has no value");
      if (!values_.emplace(key, value).second) fail("duplicate key '" + key + "'");
    }
  }

  [[noreturn]] void fail(const std::string& why) const { bad(text_, part_, why); }

  bool has(const std::string& key) const { return values_.count(key) > 0; }

  const std::string& get(const std::string& key) const {
    const auto it = values_.find(key);
    if (it == values_.end()) fail("missing key '" + key + "'");
    return it->second;
  }

  std::uint32_t get_uint(const std::string& key, std::uint32_t max) const {
    const auto& v = get(key);
    std::uint64_t out = 0;
    if (v[0] == '-') fail(key + " " + v + " is negative");
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec != std::errc{} || end != v.data() + v.size() || out > max) {
      fail(key + " '" + v + "' is not an integer in [0, " + std::to_string(max) + "]");
    }
    return static_cast<std::uint32_t>(out);
  }

  double get_double(const std::string& key, double min) const {
    const auto& v = get(key);
    double out = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec != std::errc{} || end != v.data() + v.size() || !std::isfinite(out)) {
      fail(key + " '" + v + "' is not a finite number");
    }
    if (out < 0) fail(key + " " + v + " is negative");
    if (out < min) fail(key + " " + v + " is below " + format(min));
    return out;
  }

  static std::string format(double v) {
    char buf[32];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return ec == std::errc{} ? std::string(buf, end) : std::to_string(v);
  }

 private:
  const std::string& text_;
  const std::string& part_;
  std::map<std::string, std::string> values_;
};

void parse_part(const std::string& text, const std::string& part, straggler_spec& spec) {
  const auto colon = part.find(':');
  const auto kind = trim(part.substr(0, colon));
  if (kind == "none") bad(text, part, "'none' stands alone: no keys, no other parts");
  if (kind != "fixed" && kind != "random" && kind != "dai") {
    bad(text, part, "unknown kind '" + kind + "' (kinds: none, fixed, random, dai)");
  }
  if (colon == std::string::npos) bad(text, part, "missing ':' and keys after '" + kind + "'");
  const auto body = trim(part.substr(colon + 1));
  if (body.empty()) bad(text, part, "no keys after '" + kind + ":'");
  if (kind == "fixed") {
    part_reader r(text, part, kind, body, {"worker", "factor"});
    straggler_spec::fixed_part p;
    p.worker = r.get_uint("worker", std::numeric_limits<std::uint32_t>::max());
    p.factor = r.get_double("factor", 1.0);
    if (p.factor > 1000) r.fail("factor " + r.get("factor") + " is above 1000");
    for (const auto& other : spec.fixed) {
      if (other.worker == p.worker) {
        r.fail("worker " + std::to_string(p.worker) + " already has a fixed part");
      }
    }
    spec.fixed.push_back(p);
  } else if (kind == "random") {
    part_reader r(text, part, kind, body, {"dist", "mean_ms", "workers"});
    straggler_spec::random_part p;
    const auto& dist = r.get("dist");
    if (dist == "exp") {
      p.dist = straggler_spec::distribution::exponential;
    } else if (dist == "uniform") {
      p.dist = straggler_spec::distribution::uniform;
    } else {
      r.fail("dist '" + dist + "' is neither exp nor uniform");
    }
    p.mean_ms = r.get_double("mean_ms", 0.0);
    // A mean of hours took a run that then sat silent until killed.
    if (p.mean_ms > 60000) r.fail("mean_ms " + r.get("mean_ms") + " is above 60000 (a minute)");
    if (r.has("workers") && r.get("workers") != "all") {
      p.worker = r.get_uint("workers", std::numeric_limits<std::uint32_t>::max());
    }
    spec.random.push_back(p);
  } else {
    part_reader r(text, part, kind, body, {"max_delay"});
    if (spec.dai_max_delay) r.fail("dai given twice");
    spec.dai_max_delay = r.get_uint("max_delay", straggler_max_dai_delay);
  }
}

// SplitMix64 finaliser: decorrelates nearby (seed, worker) pairs.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Hand-rolled draws instead of <random> distributions, whose algorithms the
// standard leaves open: the same seed gives the same delays on every platform.
double unit_draw(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;  // [0, 1)
}

}  // namespace

straggler_spec parse_straggler_spec(const std::string& text) {
  const auto whole = trim(text);
  if (whole.empty()) bad(text, "", "empty spec (use 'none' for no stragglers)");
  if (whole == "none") return {};
  straggler_spec spec;
  const auto parts = split(whole, '+');
  for (const auto& part : parts) {
    if (part.empty()) bad(text, "", "empty part (a '+' at an end or two in a row)");
    parse_part(text, part, spec);
  }
  std::sort(spec.fixed.begin(), spec.fixed.end(),
            [](const auto& a, const auto& b) { return a.worker < b.worker; });
  return spec;
}

std::string to_string(const straggler_spec& spec) {
  if (spec.none()) return "none";
  std::string out;
  const auto add = [&out](const std::string& part) { out += (out.empty() ? "" : "+") + part; };
  auto fixed = spec.fixed;
  std::sort(fixed.begin(), fixed.end(),
            [](const auto& a, const auto& b) { return a.worker < b.worker; });
  for (const auto& p : fixed) {
    add("fixed:worker=" + std::to_string(p.worker) + ",factor=" + part_reader::format(p.factor));
  }
  for (const auto& p : spec.random) {
    add(std::string("random:dist=") +
        (p.dist == straggler_spec::distribution::exponential ? "exp" : "uniform") +
        ",mean_ms=" + part_reader::format(p.mean_ms) +
        ",workers=" + (p.worker ? std::to_string(*p.worker) : "all"));
  }
  if (spec.dai_max_delay) add("dai:max_delay=" + std::to_string(*spec.dai_max_delay));
  return out;
}

void check_straggler_workers(const straggler_spec& spec, std::uint32_t workers) {
  const auto check = [&](std::uint32_t w) {
    if (w >= workers) {
      throw troupe_error(errc::bad_config, "stragglers '" + to_string(spec) + "': worker " +
                                               std::to_string(w) + " does not exist (the job has " +
                                               std::to_string(workers) + " workers, ids 0.." +
                                               std::to_string(workers - 1) + ")");
    }
  };
  for (const auto& p : spec.fixed) check(p.worker);
  for (const auto& p : spec.random) {
    if (p.worker) check(*p.worker);
  }
}

straggler_model::straggler_model(const straggler_spec& spec, std::uint32_t worker,
                                 std::uint64_t seed)
    : sleep_rng_(mix(mix(seed) + worker) ^ 0x736c656570ULL),   // "sleep"
      delay_rng_(mix(mix(seed) + worker) ^ 0x64656c6179ULL) {  // "delay"
  for (const auto& p : spec.fixed) {
    if (p.worker == worker) factor_ = p.factor;
  }
  for (const auto& p : spec.random) {
    if (!p.worker || *p.worker == worker) random_.push_back(p);
  }
  max_delay_ = spec.dai_max_delay.value_or(0);
}

double straggler_model::extra_delay_s(double compute_s) {
  double delay = (factor_ - 1) * std::max(0.0, compute_s);
  for (const auto& p : random_) {
    const double mean_s = p.mean_ms / 1000.0;
    const double u = unit_draw(sleep_rng_);
    delay += p.dist == straggler_spec::distribution::exponential ? -mean_s * std::log1p(-u)
                                                                 : 2 * mean_s * u;
  }
  return delay;
}

std::uint32_t straggler_model::gradient_delay() {
  if (max_delay_ == 0) return 0;
  // Rejection sampling keeps [0, D] exactly uniform (no modulo bias).
  const std::uint64_t n = std::uint64_t{max_delay_} + 1;
  const std::uint64_t all = std::numeric_limits<std::uint64_t>::max();
  const std::uint64_t limit = all - all % n;
  std::uint64_t x = delay_rng_();
  while (x >= limit) x = delay_rng_();
  return static_cast<std::uint32_t>(x % n);
}

}  // namespace troupe
