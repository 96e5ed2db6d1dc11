// Test helper: runs a child process with captured stdout/stderr, reads with deadlines, and
// talks HTTP/1.1 over loopback. No sleeps: every wait is poll() on a file descriptor.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../wait_for.h"

namespace vigil::testing {

class Subprocess {
 public:
  explicit Subprocess(std::vector<std::string> argv) {
    int out[2], err[2];
    if (pipe(out) != 0 || pipe(err) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      dup2(err[1], 2);
      close(out[0]);
      close(err[0]);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(out[1]);
    close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
  }
  ~Subprocess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      Wait(std::chrono::seconds(30));
    }
    if (out_fd_ >= 0) close(out_fd_);
    if (err_fd_ >= 0) close(err_fd_);
  }

  // Reads stdout until it contains `needle` or the deadline passes. Returns what was read.
  std::string ReadStdoutUntil(const std::string& needle, std::chrono::milliseconds timeout) {
    return ReadUntil(out_fd_, &out_, needle, timeout);
  }
  std::string ReadStderrUntil(const std::string& needle, std::chrono::milliseconds timeout) {
    return ReadUntil(err_fd_, &err_, needle, timeout);
  }

  // Waits for exit, draining both pipes. Returns the exit code, or -1 on timeout / signal.
  int Wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    bool out_open = out_fd_ >= 0, err_open = err_fd_ >= 0;
    while (out_open || err_open) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return -1;
      pollfd fds[2] = {{out_open ? out_fd_ : -1, POLLIN, 0}, {err_open ? err_fd_ : -1, POLLIN, 0}};
      if (poll(fds, 2, static_cast<int>(left.count())) <= 0) continue;
      if (fds[0].revents) out_open = ReadSome(out_fd_, &out_, 0);
      if (fds[1].revents) err_open = ReadSome(err_fd_, &err_, 0);
    }
    int status = 0;
    while (true) {
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) break;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return -1;
      // Pipes are closed, so the child is exiting: block until it has.
      if (waitpid(pid_, &status, 0) == pid_) break;
    }
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  void Signal(int sig) { kill(pid_, sig); }
  pid_t pid() const { return pid_; }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  static std::string ReadUntil(int fd, std::string* buf, const std::string& needle,
                               std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (buf->find(needle) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !ReadSome(fd, buf, static_cast<int>(left.count()))) break;
    }
    return *buf;
  }

  static bool ReadSome(int fd, std::string* into, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    if (timeout_ms > 0 && poll(&p, 1, timeout_ms) <= 0) return true;
    char buf[65536];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return false;
    into->append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  bool exited_ = false;
  std::string out_, err_;
};

struct HttpResult {
  int status = 0;
  std::string body;
};

// One request over a fresh loopback connection (Connection: close), with `body` and extra
// header lines ("Name: value"). status 0 on failure.
inline HttpResult HttpRequest(uint16_t port, const std::string& method, const std::string& target,
                              const std::string& body = "",
                              const std::vector<std::string>& headers = {}) {
  HttpResult r;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return r;
  }
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\nConnection: close\r\n";
  for (const std::string& h : headers) req += h + "\r\n";
  req += "\r\n" + body;
  for (size_t off = 0; off < req.size();) {
    ssize_t w = write(fd, req.data() + off, req.size() - off);
    if (w <= 0) {
      close(fd);
      return r;
    }
    off += static_cast<size_t>(w);
  }
  std::string resp;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) resp.append(buf, static_cast<size_t>(n));
  close(fd);
  if (resp.rfind("HTTP/1.1 ", 0) != 0) return r;
  r.status = std::stoi(resp.substr(9, 3));
  size_t body_at = resp.find("\r\n\r\n");
  if (body_at != std::string::npos) r.body = resp.substr(body_at + 4);
  return r;
}

inline HttpResult HttpGet(uint16_t port, const std::string& target) {
  return HttpRequest(port, "GET", target);
}

// The port of `vigil serve`'s first stdout line ("listening on 127.0.0.1:PORT"), or 0.
inline uint16_t ListeningPort(Subprocess& p) {
  std::string out = p.ReadStdoutUntil("\n", std::chrono::seconds(60));
  size_t at = out.find("listening on 127.0.0.1:");
  if (at == std::string::npos) return 0;
  return static_cast<uint16_t>(std::stoi(out.substr(at + 23)));
}

// The nice values of process pid's threads, by thread name (/proc/PID/task/TID/{comm,stat}).
inline std::map<std::string, std::set<int>> NiceByThreadName(pid_t pid) {
  std::map<std::string, std::set<int>> out;
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  for (const auto& t : std::filesystem::directory_iterator(tasks, ec)) {
    std::string name, stat;
    std::getline(std::ifstream(t.path() / "comm"), name);
    std::getline(std::ifstream(t.path() / "stat"), stat);
    const size_t close = stat.rfind(')');  // the name may hold spaces and parentheses
    if (name.empty() || close == std::string::npos) continue;
    // After "pid (comm)": state is field 3, nice field 19.
    std::istringstream fields(stat.substr(close + 2));
    std::string field;
    for (int i = 3; i <= 19 && fields >> field; ++i) {
      if (i == 19) out[name].insert(std::stoi(field));
    }
  }
  return out;
}

}  // namespace vigil::testing
