#pragma once
// A raw client socket on loopback, for tests that send exactly the bytes a hostile client
// would and read raw HTTP/1.1 responses. Header-only.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "testing/http_response.h"

namespace airlock::test {

class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawClient() { ::close(fd_); }
  bool connected() const { return connected_; }

  void Send(std::string_view data) {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  }

  // Reads until one whole response (headers + Content-Length body) has arrived, the peer
  // closes, or the deadline passes. Returns that response, or whatever arrived.
  std::string ReadResponse(std::chrono::milliseconds deadline = std::chrono::milliseconds(5000)) {
    auto end = std::chrono::steady_clock::now() + deadline;
    while (test::CompleteResponseLength(pending_) == 0 && !closed_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left <= std::chrono::milliseconds(0)) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      pending_.append(buf, static_cast<size_t>(n));
    }
    size_t len = test::CompleteResponseLength(pending_);
    if (len == 0) len = pending_.size();
    std::string out = pending_.substr(0, len);
    pending_.erase(0, len);
    return out;
  }

  // True once the server has closed the connection (within the deadline).
  bool WaitClosed(std::chrono::milliseconds deadline = std::chrono::milliseconds(5000)) {
    auto end = std::chrono::steady_clock::now() + deadline;
    while (!closed_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left <= std::chrono::milliseconds(0)) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) closed_ = true;
    }
    return true;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  std::string pending_;
};

}  // namespace airlock::test
