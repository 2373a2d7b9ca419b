#pragma once
// Server: an HTTP/1.1 server (Boost.Beast) that does only I/O and limits, and hands each
// request to one handler: a Handler, a pure function from Request to Response, or an
// AsyncHandler that answers later through its Respond (see http/message.h).
// - keep-alive; a pool of I/O threads (default: one per core), each with its own event
//   loop; accepted connections are dealt to them in turn and stay on their thread, so a
//   connection's I/O needs no lock;
// - limits, each answered before the oversize input is read: headers over
//   max_header_bytes → 431, a body over max_body_bytes → 413 (by Content-Length, before
//   any body byte is read), a body in a transfer coding other than chunked alone → 501
//   (the parser would read it as no body), a request not complete within read_timeout →
//   408; an idle keep-alive connection is closed after idle_timeout; a response not
//   written within read_timeout closes the connection. Deadlines are checked by one sweep per
//   thread every quarter of the shorter timeout (10 ms to 1 s), so a timeout fires up to
//   a quarter late; the time a handler takes is not limited;
// - "Expect: 100-continue" is answered "100 Continue" once the header has passed the
//   limits above, unless some of the body has come already;
// - HTTPS when a certificate and key are given (TLS 1.2 and later);
// - a correlation-id: echoed from the request's "correlation-id" header if it is a short
//   token of safe characters, else a new uuid4; handlers see it as Request::request_id;
// - a handler that throws is answered 500 and logged; the server carries on;
// - Shutdown(): stop accepting, let in-flight requests finish and be answered (those of
//   asynchronous handlers included), close idle connections, join the threads. Nothing
//   accepted is dropped. A request partly received (or received but not yet read) may
//   still arrive, but only within shutdown_grace: after it, it is answered 408, and a
//   response a client does not read is abandoned, so a slow client cannot hold the
//   shutdown for the whole read or idle timeout. Handlers are never cut short.
// Thread-safety: Start/Shutdown from one controlling thread; the handler is called from
// the I/O threads concurrently and must be thread-safe.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/error.h"
#include "http/message.h"

namespace airlock::http {

// Headers of a normal request are a few hundred bytes; 16 KiB leaves room for cookies and
// long tokens (8 KiB at most) while refusing header floods.
inline constexpr size_t kDefaultMaxHeaderBytes = 16 * 1024;
// Execution API bodies are small JSON documents; XCom values are the largest.
inline constexpr size_t kDefaultMaxBodyBytes = 1 << 20;
// A client must send a whole request within this time (slowloris defence).
inline constexpr std::chrono::seconds kDefaultReadTimeout{30};
// Keep-alive connections with no request for this long are closed.
inline constexpr std::chrono::seconds kDefaultIdleTimeout{75};
// Once Shutdown() has begun, reading the rest of a request or writing a response may take
// this long at most (their usual limits are the read and idle timeouts). Short enough for
// a supervisor's stop timeout (systemd, Kubernetes) to leave time for what follows.
inline constexpr std::chrono::seconds kDefaultShutdownGrace{5};

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0 = any free port; see Server::port()
  int threads = 0;    // 0 = one per core
  std::string tls_cert_file;
  std::string tls_key_file;
  size_t max_header_bytes = kDefaultMaxHeaderBytes;
  size_t max_body_bytes = kDefaultMaxBodyBytes;
  std::chrono::milliseconds read_timeout = kDefaultReadTimeout;
  std::chrono::milliseconds idle_timeout = kDefaultIdleTimeout;
  std::chrono::milliseconds shutdown_grace = kDefaultShutdownGrace;
  // Called after each response a handler gave is written (access log). May be empty.
  std::function<void(const Request&, int status, std::chrono::microseconds elapsed)> on_response;
  // Called on the I/O thread when the server answers a request itself, before any handler
  // saw it: 413, 431, 408, 400 (a malformed request or target), 501 (a transfer coding
  // other than chunked). The request holds what its header said when the header was read
  // whole and the target parsed; otherwise its method and path are empty. No body. May
  // be empty.
  std::function<void(const Request&, int status)> on_refused;
};

class Server {
 public:
  // Binds, listens and starts the I/O threads. Unavailable if the address cannot be
  // bound; InvalidArgument for unreadable TLS files.
  static Result<std::unique_ptr<Server>> Start(ServerOptions options, AsyncHandler handler);
  static Result<std::unique_ptr<Server>> Start(ServerOptions options, Handler handler);
  ~Server();  // Shutdown() if still running

  uint16_t port() const;

  // Graceful stop as described above; idempotent. Returns when all threads have ended.
  void Shutdown();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace airlock::http
