#include "tools/sweep_earlier.hpp"

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <system_error>
#include <vector>

#include "engine/earlier_run.hpp"
#include "engine/errors.hpp"
#include "engine/node_paths.hpp"
#include "tools/sweep_plots.hpp"
#include "tools/sweep_report.hpp"

namespace troupe::sweep {

namespace fs = std::filesystem;

namespace {

// The report, its images and gnuplot's log, and the job file a sweep writes.
std::vector<std::string> own_files() {
  auto names = report_files();
  names.insert(names.end(), plot_outputs().begin(), plot_outputs().end());
  names.insert(names.end(), {"gnuplot.log", "job.toml"});
  return names;
}

void move(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  if (!ec) fs::rename(from, to, ec);
  if (ec) {
    throw troupe_error(errc::io_error, "cannot move the earlier sweep's " + from.string() + " to " +
                                           to.string() + ": " + ec.message());
  }
}

bool same_file(const fs::path& a, const std::string& b) {
  std::error_code ec;
  return !b.empty() && fs::equivalent(a, b, ec);
}

std::string first_line(const fs::path& p) {
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);
  return line;
}

// Whether `name` in `dir`, a text file a user might keep under that name
// too, is what a sweep wrote (the images and plot data have names no user
// file would). A job.toml from before its header came with a runs.csv.
bool of_a_sweep(const fs::path& dir, const std::string& name) {
  std::error_code ec;
  if (fs::file_size(dir / name, ec) == 0 && !ec) return true;  // nothing to lose
  // Not "beside a runs.csv": the user's own job file given as DIR/job.toml
  // stays unwritten beside the sweep's runs.csv.
  if (name == "job.toml") return written_job_file((dir / name).string(), sweep_job_header);
  if (name != "summary.md" && name != "runs.csv" && name != "curves.csv") return true;
  const auto line = first_line(dir / name);
  // Builds before Dec 4 began it "# Staleness sweep: ".
  if (name == "summary.md") {
    return line.rfind("# Sweep: ", 0) == 0 || line.rfind("# Staleness sweep: ", 0) == 0;
  }
  if (name == "runs.csv") return line.find(",seed,stragglers,wall_s,") != std::string::npos;
  return line.find(",seed,time_s,clock,") != std::string::npos;
}

}  // namespace

bool is_sweep_run_name(const std::string& name) {
  static const std::regex run(R"((.+_)?s([0-9]+|inf)_r[0-9]+)");
  return name == "reference" || std::regex_match(name, run);
}

std::size_t set_aside_earlier(const std::string& dir, const std::string& keep) {
  const fs::path root(dir);
  std::vector<std::pair<fs::path, fs::path>> moves;  // from, relative to previous/
  for (const auto& name : own_files()) {
    const auto p = root / name;
    std::error_code ec;
    if (fs::symlink_status(p, ec).type() == fs::file_type::not_found || same_file(p, keep)) {
      continue;
    }
    // A user's own summary.md or job.toml went into previous/ and, with the
    // next sweep, was deleted.
    if (fs::is_regular_file(p, ec) && !of_a_sweep(root, name)) {
      throw troupe_error(errc::bad_config,
                         p.string() + " is no sweep's " + name + ", and a sweep into " + dir +
                             " writes its own there (an earlier sweep's goes into previous/, "
                             "which the next sweep replaces): give another output directory "
                             "(-o DIR), or move the file away");
    }
    moves.emplace_back(p, name);
  }
  if (!keep.empty() && is_within((root / "previous").string(), keep)) {
    std::error_code ec;
    const auto kept = fs::weakly_canonical(keep, ec);
    if (kept.filename() != "job.toml" || !of_a_sweep(kept.parent_path(), "job.toml")) {
      throw troupe_error(errc::bad_config, "the job file " + keep + " lies in " + dir +
                                               "/previous, which a sweep into " + dir +
                                               " replaces: copy it elsewhere first, or give "
                                               "another output directory (-o DIR)");
    }
  }
  std::error_code listed;
  if (fs::is_directory(root / "runs", listed)) {
    for (const auto& e : fs::directory_iterator(root / "runs", listed)) {
      const auto name = e.path().filename().string();
      if (is_sweep_run_name(name)) moves.emplace_back(e.path(), fs::path("runs") / name);
    }
  }
  if (moves.empty()) return 0;
  // Gathered aside first, then swapped in for the older previous/: a move
  // that fails half-way leaves previous/ as it was.
  const auto staging = root / "previous.new";
  std::error_code stale;
  fs::remove_all(staging, stale);
  for (const auto& [from, rel] : moves) move(from, staging / rel);
  std::error_code ec;
  fs::remove_all(root / "previous", ec);
  if (ec) {
    throw troupe_error(errc::io_error,
                       "cannot replace " + (root / "previous").string() + ": " + ec.message());
  }
  move(staging, root / "previous");
  return moves.size();
}

}  // namespace troupe::sweep
