// KafkaMockProcess: runs vigil-kafka-mock (librdkafka's mock cluster in its own process) for a
// test, reads its bootstrap address and sends it fault-injection commands. No sleeps: every wait
// is poll() on a descriptor with a deadline. Targets get VIGIL_KAFKA_MOCK (the binary's path) by
// linking vigil::kafka_testutil, e.g. with vigil_uses_kafka_mock(target) (tests/kafka).
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#ifndef VIGIL_KAFKA_MOCK
#error "VIGIL_KAFKA_MOCK is not defined: link vigil::kafka_testutil / vigil_uses_kafka_mock()"
#endif

namespace vigil::testing {

struct KafkaMockOptions {
  int brokers = 3;
  std::vector<std::string> topics = {"audit:8"};  // "name:partitions"
  std::vector<std::string> extra_args;            // appended, e.g. "--exit-on-eof"
  // Where the mock's stderr (librdkafka's log) goes: empty inherits the test's stderr, so it
  // lands in the test log; else a file path (truncated).
  std::string stderr_path;
  std::chrono::milliseconds start_timeout{30000};
  std::string binary = VIGIL_KAFKA_MOCK;
};

// One mock cluster process. Not thread-safe: use it from one thread. The destructor kills the
// process (SIGKILL) if it still runs; the child also gets SIGTERM if the test process dies
// (PR_SET_PDEATHSIG follows the forking thread, so create it on a thread that outlives it).
class KafkaMockProcess {
 public:
  using Ms = std::chrono::milliseconds;

  // Starts the mock and waits up to options.start_timeout for its bootstrap line. On failure
  // ok() is false and error() says why (the process is still reaped by Wait()/the destructor).
  explicit KafkaMockProcess(KafkaMockOptions options = {}) { Start(options); }
  ~KafkaMockProcess() {
    Kill();
    if (in_fd_ >= 0) close(in_fd_);
    if (out_fd_ >= 0) close(out_fd_);
    if (pid_fd_ >= 0) close(pid_fd_);
  }
  KafkaMockProcess(const KafkaMockProcess&) = delete;
  KafkaMockProcess& operator=(const KafkaMockProcess&) = delete;

  bool ok() const { return !bootstrap_.empty(); }
  // "127.0.0.1:port,..." (one address per broker); empty if the start failed.
  const std::string& bootstrap() const { return bootstrap_; }
  // Why the start failed, or why the last Command() did not answer ok.
  const std::string& error() const { return error_; }
  pid_t pid() const { return pid_; }

  // Sends one command line (see tests/README.md) and waits up to `timeout` for its answer. True
  // iff the answer is "ok"; the answer line is last_reply(), and error() holds it otherwise.
  // A late answer to a timed-out command is skipped, so later commands stay in step.
  bool Command(const std::string& line, Ms timeout = Ms(10000)) {
    last_reply_.clear();
    if (in_fd_ < 0 || exited_) return Fail("mock is not running or its stdin is closed");
    if (line.find('\n') != std::string::npos) return Fail("command contains a newline");
    std::string data = line + "\n";
    for (size_t done = 0; done < data.size();) {
      // A socket, not a pipe, so a dead mock gives EPIPE here instead of SIGPIPE.
      ssize_t n = send(in_fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Fail("writing to the mock's stdin failed (it exited?)");
      done += static_cast<size_t>(n);
    }
    ++sent_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (answered_ < sent_) {
      std::optional<std::string> reply = ReadLine(deadline);
      if (!reply) return Fail("no answer to '" + line + "' in time");
      ++answered_;
      last_reply_ = *reply;
    }
    if (last_reply_ == "ok") return true;
    error_ = last_reply_;
    return false;
  }
  const std::string& last_reply() const { return last_reply_; }

  // Closes the mock's stdin (EOF). The mock keeps running unless started with --exit-on-eof.
  void CloseStdin() {
    if (in_fd_ >= 0) close(in_fd_);
    in_fd_ = -1;
  }

  // Waits up to `timeout` for the process to exit. Returns its exit status (0..255), 128 + the
  // signal if a signal ended it, or -1 if it is still running at the deadline.
  int Wait(Ms timeout) {
    if (exited_) return status_;
    if (pid_ <= 0) return -1;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) return Reaped(status);
      if (r < 0 && errno != EINTR) return -1;
      int left = LeftMs(deadline);
      if (left == 0) return -1;
      if (pid_fd_ >= 0) {  // readable once the child has exited
        pollfd p{pid_fd_, POLLIN, 0};
        poll(&p, 1, left);
        continue;
      }
      // No pidfd (kernel < 5.3): the mock's stdout reaching EOF means it is exiting.
      if (out_fd_ < 0) {
        if (waitpid(pid_, &status, 0) == pid_) return Reaped(status);
        return -1;
      }
      pollfd p{out_fd_, POLLIN, 0};
      if (poll(&p, 1, left) <= 0) continue;
      char buf[4096];
      ssize_t n = read(out_fd_, buf, sizeof buf);
      if (n > 0) out_.append(buf, static_cast<size_t>(n));
      if (n == 0) {
        close(out_fd_);
        out_fd_ = -1;
      }
    }
  }

  // Sends SIGTERM and waits for the exit status (0 for a clean shutdown); -1 on timeout.
  int Terminate(Ms timeout = Ms(30000)) {
    if (!exited_ && pid_ > 0) kill(pid_, SIGTERM);
    return Wait(timeout);
  }

  // SIGKILL and reap. Safe to call more than once.
  void Kill() {
    if (exited_ || pid_ <= 0) return;
    kill(pid_, SIGKILL);
    Wait(Ms(30000));
  }

 private:
  void Start(const KafkaMockOptions& o) {
    std::vector<std::string> argv = {o.binary, "--brokers", std::to_string(o.brokers)};
    for (const std::string& t : o.topics) {
      argv.push_back("--topic");
      argv.push_back(t);
    }
    argv.insert(argv.end(), o.extra_args.begin(), o.extra_args.end());
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);

    int in[2], out[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0) {
      error_ = "socketpair failed";
      return;
    }
    if (pipe2(out, O_CLOEXEC) != 0) {
      close(in[0]);
      close(in[1]);
      error_ = "pipe failed";
      return;
    }
    int err_fd = -1;
    if (!o.stderr_path.empty()) {
      err_fd = open(o.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    }
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {
      // Only async-signal-safe calls until exec: the test may run librdkafka threads.
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(126);  // the test died before prctl took effect
      dup2(in[1], STDIN_FILENO);
      dup2(out[1], STDOUT_FILENO);
      if (err_fd >= 0) dup2(err_fd, STDERR_FILENO);
      close_range(3, ~0U, 0);
      execv(args[0], args.data());
      _exit(127);
    }
    close(in[1]);
    close(out[1]);
    if (err_fd >= 0) close(err_fd);
    in_fd_ = in[0];
    out_fd_ = out[0];
    if (pid_ < 0) {
      error_ = "fork failed";
      return;
    }
    // -1 on kernels without pidfds; Wait() then falls back to stdout. (A raw syscall: glibc
    // 2.36's <sys/pidfd.h> lacks extern "C", so its pidfd_open() does not link from C++.)
    pid_fd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));

    const auto deadline = std::chrono::steady_clock::now() + o.start_timeout;
    std::optional<std::string> line = ReadLine(deadline);
    constexpr std::string_view kPrefix = "bootstrap=";
    if (line && line->rfind(kPrefix, 0) == 0 && line->size() > kPrefix.size()) {
      bootstrap_ = line->substr(kPrefix.size());
      return;
    }
    if (line) {
      error_ = "unexpected first line from the mock: '" + *line + "'";
    } else if (out_fd_ < 0) {  // stdout closed: it is exiting, so its status comes promptly
      error_ = o.binary + " exited before printing its bootstrap line (exit status " +
               std::to_string(Wait(Ms(10000))) + ")";
    } else {
      error_ = "no bootstrap line from " + o.binary + " in time";
    }
  }

  int Reaped(int status) {
    exited_ = true;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return status_;
  }

  bool Fail(std::string message) {
    error_ = std::move(message);
    return false;
  }

  static int LeftMs(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<Ms>(deadline - std::chrono::steady_clock::now());
    return left.count() <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left.count(), INT32_MAX));
  }

  // Reads one line from the mock's stdout (without the newline), or nullopt at the deadline/EOF.
  std::optional<std::string> ReadLine(std::chrono::steady_clock::time_point deadline) {
    while (true) {
      size_t nl = out_.find('\n');
      if (nl != std::string::npos) {
        std::string line = out_.substr(0, nl);
        out_.erase(0, nl + 1);
        return line;
      }
      if (out_fd_ < 0) return std::nullopt;
      int left = LeftMs(deadline);
      if (left == 0) return std::nullopt;
      pollfd p{out_fd_, POLLIN, 0};
      int r = poll(&p, 1, left);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return std::nullopt;
      char buf[4096];
      ssize_t n = read(out_fd_, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        close(out_fd_);  // EOF: the mock exited
        out_fd_ = -1;
        return std::nullopt;
      }
      out_.append(buf, static_cast<size_t>(n));
    }
  }

  pid_t pid_ = -1;
  int pid_fd_ = -1;
  int in_fd_ = -1;   // our end of the mock's stdin (a socket)
  int out_fd_ = -1;  // the mock's stdout
  bool exited_ = false;
  int status_ = -1;
  uint64_t sent_ = 0, answered_ = 0;
  std::string out_;  // stdout bytes not yet consumed as lines
  std::string bootstrap_, error_, last_reply_;
};

}  // namespace vigil::testing
