#include "engine/earlier_run.hpp"

#include <array>
#include <filesystem>
#include <system_error>

namespace troupe {

earlier_run set_aside_earlier_run(const std::string& dir) {
  namespace fs = std::filesystem;
  // What `troupe train` writes into its output directory.
  static constexpr std::array<const char*, 7> run_files = {
      "job.toml", "metrics.csv", "summary.txt",         "report.txt",
      "best",     "checkpoints", "checkpoints.previous"};
  earlier_run r;
  const fs::path previous = fs::path(dir) / "previous";
  r.to = previous.string();
  std::error_code ec;
  std::vector<std::string> found;
  for (const char* name : run_files) {
    const auto p = fs::path(dir) / name;
    if (!fs::exists(fs::symlink_status(p, ec))) continue;
    if (name == std::string("checkpoints") && fs::is_symlink(p, ec)) {
      r.left.push_back(std::string(name) + " (a link, where the nodes keep them: not moved)");
      continue;
    }
    // An empty directory (a run without checkpoint_every) holds nothing to keep.
    if (fs::is_directory(p, ec) && fs::is_empty(p, ec)) continue;
    found.emplace_back(name);
  }
  if (found.empty()) return r;
  fs::remove_all(previous, ec);
  ec.clear();
  fs::create_directory(previous, ec);
  if (ec) {
    for (const auto& name : found) r.left.push_back(name + " (" + ec.message() + ")");
    return r;
  }
  for (const auto& name : found) {
    fs::rename(fs::path(dir) / name, previous / name, ec);
    if (ec) {
      r.left.push_back(name + " (" + ec.message() + ")");
      ec.clear();
    } else {
      r.what.push_back(name);
    }
  }
  return r;
}

}  // namespace troupe
