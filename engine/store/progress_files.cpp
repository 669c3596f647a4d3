#include "engine/store/progress_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/shared_dir.hpp"
#include "engine/store/checkpoint.hpp"
#include "engine/unique_fd.hpp"

namespace troupe {

namespace fs = std::filesystem;

namespace {

// The clock of a progress file name (or its ".tmp"), or false for other names.
bool parse_name(const std::string& name, std::int64_t& clock, bool& tmp) {
  long long c = 0;
  if (std::sscanf(name.c_str(), "progress-clock-%lld.", &c) != 1 || c < 0) return false;
  const auto base = "progress-clock-" + std::to_string(c);
  tmp = name == base + ".tmp";
  if (!tmp && name != base + ".txt") return false;
  clock = c;
  return true;
}

}  // namespace

std::string progress_file_name(std::int64_t clock) {
  return "progress-clock-" + std::to_string(clock) + ".txt";
}

status write_progress_file(const std::string& dir, std::int64_t clock, std::int64_t epoch,
                           const std::string& model, const std::string& data) {
  const auto path = (fs::path(dir) / progress_file_name(clock)).string();
  const auto tmp = path.substr(0, path.size() - 4) + ".tmp";
  // Durable before it names a set complete (the shards' files are synced
  // too): after a power loss the newest progress file must not be empty
  // while older sets were already pruned.
  const auto text = "clock=" + std::to_string(clock) + "\nepoch=" + std::to_string(epoch) + "\n" +
                    (model.empty() ? std::string{} : "model=" + model + "\n") +
                    (data.empty() ? std::string{} : "data=" + data + "\n");
  {
    unique_fd f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
    if (f) share_file(f.get(), dir);
    if (!f || ::write(f.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
        ::fsync(f.get()) != 0) {
      return {errc::io_error, "cannot write " + tmp + ": " + std::strerror(errno)};
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return {errc::io_error, "cannot write " + path + ": " + ec.message()};
  return sync_directory(dir);
}

std::vector<std::int64_t> list_progress_clocks(const std::string& dir) {
  std::vector<std::int64_t> clocks;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::int64_t clock = 0;
    bool tmp = false;
    if (parse_name(entry.path().filename().string(), clock, tmp) && !tmp) clocks.push_back(clock);
  }
  std::sort(clocks.rbegin(), clocks.rend());
  return clocks;
}

status prune_progress_files(const std::string& dir, std::size_t keep) {
  if (keep == 0) return {errc::bad_config, "prune_progress_files must keep at least 1 file"};
  const auto clocks = list_progress_clocks(dir);
  const std::int64_t oldest_kept = clocks.size() > keep ? clocks[keep - 1] : -1;
  if (oldest_kept < 0) return {};
  status result;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::int64_t clock = 0;
    bool tmp = false;
    if (!parse_name(entry.path().filename().string(), clock, tmp) || clock >= oldest_kept) {
      continue;
    }
    std::error_code rm;
    if (!fs::remove(entry.path(), rm) && rm && result.ok()) {
      result = {errc::io_error, "cannot remove " + entry.path().string() + ": " + rm.message()};
    }
  }
  return result;
}

}  // namespace troupe
