#pragma once
// One run at a time in an output directory: a run (or a resume) takes an
// exclusive lock on <dir>/.lock for as long as it lives. Two schedulers in
// one directory interleaved their checkpoints, moved each other's metrics
// rows and overwrote each other's summary, and both exited 0.
//
//   auto lock = output_lock::acquire(job.output_dir);   // throws bad_config
//   ... the run writes into the directory ...
//   // released when `lock` goes (or the process ends, however it ends)

#include <string>

#include "engine/unique_fd.hpp"

namespace troupe {

class output_lock {
 public:
  /// Throws troupe_error: bad_config naming the process that holds the
  /// directory, io_error ("cannot write into the output directory ...")
  /// when the lock file cannot be made. A file system without locks (some
  /// network ones) gives an unheld lock: see held() (runs worked there).
  static output_lock acquire(const std::string& dir);

  /// False where the file system takes no locks: nothing is excluded.
  bool held() const { return held_; }

 private:
  output_lock(unique_fd fd, bool held) : fd_(std::move(fd)), held_(held) {}
  unique_fd fd_;  // flock() ends with the descriptor
  bool held_ = false;
};

}  // namespace troupe
