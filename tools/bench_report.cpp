#include "tools/bench_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <stdexcept>
#include <tuple>

namespace troupe::bench {

std::uint64_t run_record::timed_rounds() const {
  std::uint64_t n = 0;
  for (const auto& r : results) n += r.rounds;
  return n;
}

double run_record::aggregate_rounds_per_s() const {
  double sum = 0;
  for (const auto& r : results) sum += r.seconds > 0 ? r.rounds / r.seconds : 0;
  return sum;
}

double run_record::rounds_per_s_worker() const {
  return results.empty() ? 0 : aggregate_rounds_per_s() / results.size();
}

double run_record::median_ms() const {
  if (results.empty()) return 0;
  double sum = 0;
  for (const auto& r : results) sum += r.median_ms;
  return sum / results.size();
}

double run_record::p99_ms() const {
  double worst = 0;
  for (const auto& r : results) worst = std::max(worst, r.p99_ms);
  return worst;
}

double run_record::mb_per_s() const {
  return aggregate_rounds_per_s() * 24.0 * shape.keys / 1e6;
}

std::optional<reference_row> pslite_reference(store_kind store, std::uint32_t servers,
                                              std::uint32_t workers, std::uint64_t keys) {
  // shared/BENCHMARKS.md, section 1: dmlc/ps-lite (ZeroMQ, ZPush/ZPull) on a
  // machine of this kind, median of 3 x 3 runs. Only these rows exist.
  using key = std::tuple<store_kind, std::uint32_t, std::uint32_t, std::uint64_t>;
  static const std::map<key, reference_row> table = {
      {{store_kind::hash, 1, 1, 1}, {2940, 0.328, 0.48, 0}},
      {{store_kind::hash, 1, 1, 1000}, {2586, 0.366, 0, 62}},
      {{store_kind::hash, 1, 1, 100000}, {406, 2.3, 0, 974}},
      {{store_kind::hash, 1, 1, 1000000}, {18.9, 52, 0, 454}},
      {{store_kind::dense, 1, 1, 1000000}, {61.7, 16, 0, 1482}},
      {{store_kind::hash, 2, 2, 100000}, {298, 3.2, 0, 1432}},
      {{store_kind::hash, 2, 2, 1000000}, {13.8, 71, 0, 657}},
      {{store_kind::dense, 2, 2, 1000000}, {14.6, 66, 0, 702}},
  };
  auto it = table.find({store, servers, workers, keys});
  if (it == table.end()) return std::nullopt;
  return it->second;
}

namespace {

// The printed figures of one row: a run, or the medians over repeats.
struct row {
  const run_record* first = nullptr;  // store, shape and workers come from here
  std::string label;                  // "1", "2", ... or "median"
  double rps = 0, aggregate = 0, median_ms = 0, p99_ms = 0, mbps = 0;
  std::string check;
};

row row_of(const run_record& r) {
  std::string check = r.passed() ? "PASS" : "FAIL";
  return {&r,
          std::to_string(r.repeat),
          r.rounds_per_s_worker(),
          r.aggregate_rounds_per_s(),
          r.median_ms(),
          r.p99_ms(),
          r.mb_per_s(),
          check};
}

double median_of(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  const auto n = xs.size();
  return n == 0 ? 0 : n % 2 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

row median_row(const std::vector<const run_record*>& group) {
  std::vector<double> rps, agg, med, p99, mbps;
  bool all_passed = true;
  for (const auto* r : group) {
    rps.push_back(r->rounds_per_s_worker());
    agg.push_back(r->aggregate_rounds_per_s());
    med.push_back(r->median_ms());
    p99.push_back(r->p99_ms());
    mbps.push_back(r->mb_per_s());
    all_passed = all_passed && r->passed();
  }
  return {group.front(),  "median",       median_of(rps),  median_of(agg),
          median_of(med), median_of(p99), median_of(mbps), all_passed ? "PASS" : "FAIL"};
}

std::string num(double x, int decimals) {
  if (x == 0) return "-";
  return fmt::format("{:.{}f}", x, decimals);
}

std::string rate(double x) {
  return x >= 100 ? fmt::format("{:.0f}", x) : num(x, 1);
}

void print_row(std::ostream& out, const row& w) {
  const auto& r = *w.first;
  const auto ref = pslite_reference(r.shape.store, r.shape.servers, r.workers, r.shape.keys);
  std::string ref_text = "  (no ps-lite figure)";
  if (ref) {
    ref_text = fmt::format(" {:>9} {:>8} {:>7} {:>8} {:>6}", rate(ref->rounds_per_s_worker),
                           num(ref->median_ms, 3), num(ref->p99_ms, 2), num(ref->mb_per_s, 0),
                           fmt::format("{:.2f}x", w.rps / ref->rounds_per_s_worker));
  }
  out << fmt::format("{:<6}{:>4}x{:<3}{:>9} {:>6} {:>10} {:>10} {:>9} {:>8} {:>9} {:>5} |",
                     to_string(r.shape.store), r.shape.servers, r.workers, r.shape.keys, w.label,
                     rate(w.rps), rate(w.aggregate), num(w.median_ms, 3), num(w.p99_ms, 2),
                     num(w.mbps, 1), w.check)
      << ref_text << "\n";
  if (!r.failure.empty() && w.label != "median") out << "      run failed: " << r.failure << "\n";
  if (!r.check.detail.empty() && w.label != "median") {
    out << "      check: " << r.check.detail << "\n";
  }
}

}  // namespace

void print_table(std::ostream& out, const std::vector<run_record>& runs) {
  out << fmt::format("{:<6}{:>8}{:>9} {:>6} {:>10} {:>10} {:>9} {:>8} {:>9} {:>5} |", "store",
                     "SxW", "N", "run", "rounds/s", "aggregate", "median", "p99", "MB/s", "check")
      << fmt::format(" {:>9} {:>8} {:>7} {:>8} {:>6}", "ps-lite", "median", "p99", "MB/s", "ratio")
      << "\n";
  out << fmt::format("{:<6}{:>8}{:>9} {:>6} {:>10} {:>10} {:>9} {:>8} {:>9} {:>5} |", "", "", "",
                     "", "per worker", "", "ms", "ms", "agg", "")
      << fmt::format(" {:>9} {:>8} {:>7} {:>8} {:>6}", "r/s/wkr", "ms", "ms", "agg", "r/s") << "\n";
  // Rows in run order; each (store, N) group closes with its median when repeated.
  std::vector<const run_record*> group;
  auto flush = [&] {
    if (group.size() > 1) print_row(out, median_row(group));
    group.clear();
  };
  for (const auto& r : runs) {
    if (!group.empty() && (group.front()->shape.store != r.shape.store ||
                           group.front()->shape.keys != r.shape.keys)) {
      flush();
    }
    group.push_back(&r);
    print_row(out, row_of(r));
  }
  flush();
  out.flush();
}

void write_csv(const std::string& path, const std::vector<run_record>& runs) {
  std::ofstream out(path);
  if (!out) throw std::runtime_error("cannot write " + path);
  out << "store,servers,workers,keys,repeat,timed_rounds,rounds_per_s_worker,"
         "aggregate_rounds_per_s,median_ms,p99_ms,mb_per_s,check,"
         "pslite_rounds_per_s_worker,pslite_median_ms,pslite_mb_per_s,failure\n";
  for (const auto& r : runs) {
    const auto ref = pslite_reference(r.shape.store, r.shape.servers, r.workers, r.shape.keys);
    out << fmt::format("{},{},{},{},{},{},{:.3f},{:.3f},{:.4f},{:.4f},{:.2f},{},",
                       to_string(r.shape.store), r.shape.servers, r.workers, r.shape.keys, r.repeat,
                       r.timed_rounds(), r.rounds_per_s_worker(), r.aggregate_rounds_per_s(),
                       r.median_ms(), r.p99_ms(), r.mb_per_s(), r.passed() ? "PASS" : "FAIL");
    if (ref) {
      out << fmt::format("{},{},{}", ref->rounds_per_s_worker, ref->median_ms,
                         ref->mb_per_s == 0 ? std::string() : fmt::format("{}", ref->mb_per_s));
    } else {
      out << ",,";
    }
    // Failures are free text: keep commas and quotes out of the CSV.
    std::string failure = r.failure.empty() ? r.check.detail : r.failure;
    std::replace(failure.begin(), failure.end(), ',', ';');
    std::replace(failure.begin(), failure.end(), '"', '\'');
    out << "," << failure << "\n";
  }
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace troupe::bench
