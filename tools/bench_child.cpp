#include "tools/bench_child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace troupe::bench {

namespace {

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

// Runs in the forked child: only async-signal-safe calls until execv, since
// the parent may have other threads (its actor system) holding locks.
[[noreturn]] void exec_child(int in_read, int out_write, pid_t parent, char* const* argv) {
  // The kernel sends SIGKILL when the parent dies; it watches the forking
  // thread, which is the parent's main thread here.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(126);  // the parent died before prctl
  ::dup2(in_read, STDIN_FILENO);
  ::dup2(out_write, STDOUT_FILENO);
  // Dispositions set to "ignore" and blocked signals survive exec: reset them.
  ::signal(SIGPIPE, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execv(argv[0], argv);
  ::_exit(127);
}

}  // namespace

child_process child_process::start(const std::vector<std::string>& args) {
  if (args.empty()) throw std::invalid_argument("child_process: no program");
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  // O_CLOEXEC: no child inherits the pipes of its siblings, or a server would
  // never see end-of-file on stdin while a later sibling still held its write end.
  int in_pipe[2], out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) throw std::runtime_error(std::strerror(errno));
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    throw std::runtime_error(std::strerror(errno));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) exec_child(in_pipe[0], out_pipe[1], parent, argv.data());
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  if (pid < 0) {
    const int err = errno;
    ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    throw std::runtime_error(std::string("fork: ") + std::strerror(err));
  }
  child_process child;
  child.pid_ = pid;
  child.stdin_fd_ = in_pipe[1];
  child.stdout_fd_ = out_pipe[0];
  return child;
}

child_process::child_process(child_process&& other) noexcept {
  *this = std::move(other);
}

child_process& child_process::operator=(child_process&& other) noexcept {
  if (this == &other) return *this;
  kill_now();
  close_fd(stdin_fd_);
  close_fd(stdout_fd_);
  pid_ = other.pid_;
  stdin_fd_ = other.stdin_fd_;
  stdout_fd_ = other.stdout_fd_;
  reaped_ = other.reaped_;
  status_ = other.status_;
  buffer_ = std::move(other.buffer_);
  other.pid_ = -1;
  other.stdin_fd_ = other.stdout_fd_ = -1;
  return *this;
}

child_process::~child_process() {
  kill_now();
  close_fd(stdin_fd_);
  close_fd(stdout_fd_);
}

bool child_process::write_line(const std::string& line) {
  if (stdin_fd_ < 0) return false;
  const std::string data = line + "\n";
  std::size_t done = 0;
  while (done < data.size()) {
    // Lines are short and the pipe is empty at the barrier: this never blocks
    // for long. A dead child gives EPIPE (the parent ignores SIGPIPE).
    const ssize_t n = ::write(stdin_fd_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

void child_process::close_stdin() {
  close_fd(stdin_fd_);
}

std::optional<std::string> child_process::read_line(
    std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    if (stdout_fd_ < 0) return std::nullopt;
    pollfd p{stdout_fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return std::nullopt;  // timeout or poll error
    char chunk[4096];
    const ssize_t n = ::read(stdout_fd_, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close_fd(stdout_fd_);  // end-of-file: the child is gone or closed stdout
      return std::nullopt;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

std::optional<std::string> child_process::read_line_starting(const std::string& prefix,
                                                             std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (auto line = read_line(deadline)) {
    if (line->compare(0, prefix.size(), prefix) == 0) return line;
  }
  return std::nullopt;
}

std::optional<int> child_process::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ < 0) return std::nullopt;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (reaped_) return status_;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      status_ = status;
      return status_;
    }
    if (r < 0 && errno != EINTR) return std::nullopt;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int child_process::stop(std::chrono::milliseconds grace) {
  if (pid_ < 0) return 0;
  if (!reaped_) ::kill(pid_, SIGTERM);
  if (auto st = wait_exit(grace)) return *st;
  kill_now();
  return status_;
}

void child_process::kill_now() {
  if (pid_ < 0 || reaped_) return;
  ::kill(pid_, SIGKILL);
  // SIGKILL cannot be caught: the blocking wait ends as soon as the kernel
  // has torn the process down.
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  status_ = status;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace troupe::bench
