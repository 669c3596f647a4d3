#pragma once
// Child processes of the benchmark: this same binary started with other
// arguments, talked to through line-oriented pipes (its stdin and stdout; its
// stderr is ours, so its logs show up in the terminal).
//
//   auto server = child_process::start({"/proc/self/exe", "bench", "bench-server", ...});
//   auto line = server.read_line_starting("port=", std::chrono::seconds(60));
//   server.close_stdin();                       // the server's cue to stop
//   server.stop(std::chrono::seconds(5));       // bounded: SIGTERM, then SIGKILL
//
// Every wait is bounded, and the destructor kills (SIGKILL) and reaps a child
// that is still running, so no exit path of the parent leaves one behind.
// Children also get SIGKILL from the kernel should the parent itself die
// (PR_SET_PDEATHSIG).

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace troupe::bench {

class child_process {
 public:
  /// Starts `args[0]` with `args`; throws std::runtime_error if it cannot.
  static child_process start(const std::vector<std::string>& args);

  child_process(child_process&& other) noexcept;
  child_process& operator=(child_process&& other) noexcept;
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process();

  pid_t pid() const { return pid_; }

  /// Writes `line` and a newline to the child's stdin; false if it is gone.
  bool write_line(const std::string& line);
  /// Closes the child's stdin (it reads end-of-file).
  void close_stdin();

  /// The next line of the child's stdout that starts with `prefix` (other
  /// lines are skipped), or nullopt on end-of-file or when `timeout` passes.
  std::optional<std::string> read_line_starting(const std::string& prefix,
                                                std::chrono::milliseconds timeout);

  /// Exit status (as from waitpid) once the child ended within `timeout`.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  /// SIGTERM, up to `grace` for it to end, then SIGKILL; returns its status.
  int stop(std::chrono::milliseconds grace);
  /// SIGKILL and reap, at once.
  void kill_now();

 private:
  child_process() = default;
  std::optional<std::string> read_line(std::chrono::steady_clock::time_point deadline);

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string buffer_;  // bytes read from stdout, not yet returned as lines
};

/// Renders a wait status: "exit 0", "exit 3", "signal 9".
std::string describe_status(int status);

}  // namespace troupe::bench
