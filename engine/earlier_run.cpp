#include "engine/earlier_run.hpp"

#include <array>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string_view>
#include <system_error>

#include "engine/errors.hpp"
#include "engine/node_paths.hpp"
#include "engine/output_lock.hpp"

namespace troupe {

namespace {

namespace fs = std::filesystem;

// What `troupe train` writes into its output directory.
constexpr std::array<const char*, 8> run_files = {
    "job.toml", "metrics.csv", "metrics-interrupted.csv", "summary.txt", "report.txt",
    "best",     "checkpoints", "checkpoints.previous"};

bool is(const char* a, const char* b) {
  return std::string_view(a) == b;
}

// Whether a metrics file has a row beyond its header.
bool has_rows(const fs::path& p) {
  std::ifstream in(p);
  std::string line;
  return std::getline(in, line) && std::getline(in, line) && !line.empty();
}

// Whether `p` (a directory) holds anything.
bool filled(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec) && !fs::is_empty(p, ec);
}

// A run there kept something to go on from or to read: checkpoints, or a
// summary of its end.
bool complete(const fs::path& run) {
  std::error_code ec;
  return filled(run / "checkpoints") || fs::exists(run / "summary.txt", ec);
}

std::string first_line(const fs::path& p) {
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);
  return line;
}

// Followed: a link under a run's name is written through.
bool is_regular(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool metrics_of_a_run(const fs::path& p) {
  return first_line(p).rfind("time_s,epoch,", 0) == 0;
}

// A run's summary is one line of key=value pairs.
bool summary_of_a_run(const fs::path& p) {
  return first_line(p).find(" samples_per_s=") != std::string::npos;
}

bool same_file(const fs::path& a, const std::string& b) {
  std::error_code ec;
  return !b.empty() && fs::equivalent(a, b, ec);
}

// Whether `name` in `dir`, a regular file, is what a run wrote there. An
// empty one holds nothing to lose: a run interrupted before it wrote its
// metrics' header leaves one (and was refused as no run's).
bool of_a_run(const fs::path& dir, const std::string& name) {
  const auto p = dir / name;
  std::error_code ec;
  if (fs::file_size(p, ec) == 0 && !ec) return true;
  if (name == "metrics.csv" || name == "metrics-interrupted.csv") return metrics_of_a_run(p);
  if (name == "summary.txt") return summary_of_a_run(p);
  if (name == "job.toml") return written_job_file(p.string(), run_job_header);
  // report.txt: the workload's own words; it comes with a run's metrics.
  const auto metrics = dir / "metrics.csv", summary = dir / "summary.txt";
  return (is_regular(metrics) && metrics_of_a_run(metrics)) ||
         (is_regular(summary) && summary_of_a_run(summary));
}

}  // namespace

bool written_job_file(const std::string& path, std::string_view header) {
  std::ifstream in(path);
  std::string line;
  for (bool first = true; std::getline(in, line); first = false) {
    if (first && line == header) return true;
    const auto at = line.find_first_not_of(" \t");
    if (at != std::string::npos && line[at] == '#') return false;
  }
  return true;
}

void refuse_files_of_no_run(const std::string& dir, const std::string& job_file) {
  const fs::path root(dir);
  for (const char* name : run_files) {
    const auto p = root / name;
    if (!is_regular(p) || of_a_run(root, name)) continue;
    throw troupe_error(
        errc::bad_config,
        p.string() + " is no Troupe run's " + name +
            (same_file(p, job_file) ? " (it is the job file given)" : "") + ", and a run into " +
            dir + " writes its own " + name +
            " there (an earlier run's goes into previous/, which the next run replaces): "
            "give another output directory (-o DIR), or move the file away");
  }
  const auto previous = root / "previous";
  if (!job_file.empty() && is_within(previous.string(), job_file)) {
    std::error_code ec;
    const auto p = fs::weakly_canonical(job_file, ec);
    if (!ec && p.parent_path() == fs::weakly_canonical(previous, ec) && is_regular(p) &&
        p.filename() == "job.toml" && of_a_run(p.parent_path(), "job.toml")) {
      return;  // an earlier run's own: the new run writes it again
    }
    throw troupe_error(errc::bad_config,
                       "the job file " + job_file + " lies in " + previous.string() +
                           ", which a run into " + dir +
                           " replaces with the run it sets aside: copy the job file elsewhere "
                           "first, or give another output directory (-o DIR)");
  }
}

earlier_run set_aside_earlier_run(const std::string& dir) {
  earlier_run r;
  const fs::path previous = fs::path(dir) / "previous";
  r.to = previous.string();
  std::error_code ec;
  std::vector<std::string> found;
  bool trained = false;  // more than a run that failed before training leaves
  for (const char* name : run_files) {
    const auto p = fs::path(dir) / name;
    if (!fs::exists(fs::symlink_status(p, ec))) continue;
    if (is(name, "checkpoints") && fs::is_symlink(p, ec)) {
      r.left.push_back(
          "checkpoints is a link (where the nodes keep them): left as it is, and "
          "this run's checkpoints join the earlier run's there");
      continue;
    }
    // An empty directory (a run without checkpoint_every) holds nothing to keep.
    if (fs::is_directory(p, ec) && fs::is_empty(p, ec)) continue;
    found.emplace_back(name);
    if (!is(name, "job.toml") && (!is(name, "metrics.csv") || has_rows(p))) trained = true;
  }
  if (!trained) return r;  // overwritten: previous/ keeps what it has
  if (!complete(dir) && complete(previous)) {
    for (const auto& name : found) {
      r.left.push_back(name +
                       " is of a run that kept no checkpoint and no summary: overwritten, "
                       "and the run in " +
                       r.to + " is kept");
    }
    return r;
  }
  // A resume of the run in previous/ may be running (the fresh-run warning
  // suggests one): refused, naming it, rather than deleted under it.
  std::optional<output_lock> held;
  if (fs::is_directory(previous, ec)) held.emplace(output_lock::acquire(previous.string()));
  fs::remove_all(previous, ec);
  ec.clear();
  fs::create_directory(previous, ec);
  if (ec) {
    for (const auto& name : found) {
      r.left.push_back(name + " cannot be moved (" + ec.message() + "): it stays");
    }
    return r;
  }
  for (const auto& name : found) {
    fs::rename(fs::path(dir) / name, previous / name, ec);
    if (ec) {
      r.left.push_back(name + " cannot be moved (" + ec.message() + "): it stays");
      ec.clear();
    } else {
      r.what.push_back(name);
    }
  }
  r.resumable = filled(previous / "checkpoints");
  return r;
}

}  // namespace troupe
