#include "http/server.h"

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/pct_string_view.hpp>
#include <iostream>
#include <mutex>
#include <thread>

#include "common/random.h"

namespace airlock::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {

// A correlation-id we echo must not be able to inject anything into logs or headers.
bool IsSafeCorrelationId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

std::string NewRequestId() {
  auto id = Uuid4();
  return id ? *id : "unknown";
}

// Splits the request target into a percent-decoded path and the raw query.
bool SplitTarget(std::string_view target, std::string* path, std::string* query) {
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) return false;
  *path = std::string(parsed->path());  // decoded
  *query = std::string(parsed->encoded_query());
  return true;
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  Handler handler;
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::unique_ptr<asio::ssl::context> tls;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  std::once_flag shutdown_once;

  // Every live session, so that Shutdown() can close the idle ones. Entries of ended
  // sessions are pruned as the list grows. Guarded by sessions_mu.
  struct SessionRef {
    std::weak_ptr<void> alive;
    std::function<void()> close_if_idle;
  };
  std::mutex sessions_mu;
  std::vector<SessionRef> sessions;
  size_t prune_at = 64;  // Guarded by sessions_mu.

  template <class S>
  void Track(const std::shared_ptr<S>& session) {
    std::lock_guard lock(sessions_mu);
    if (sessions.size() >= prune_at) {
      std::erase_if(sessions, [](const SessionRef& r) { return r.alive.expired(); });
      prune_at = std::max<size_t>(64, sessions.size() * 2);
    }
    sessions.push_back({session, [w = std::weak_ptr<S>(session)] {
                          if (auto s = w.lock()) s->CloseIdle();
                        }});
  }

  void Accept();
};

namespace {

// One connection. Stream is beast::tcp_stream or beast::ssl_stream<beast::tcp_stream>.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(Server::Impl& server, Stream stream, std::string remote)
      : server_(server),
        stream_(std::move(stream)),
        remote_(std::move(remote)),
        read_timer_(stream_.get_executor()) {}

  void Run() {
    if constexpr (kTls) {
      TcpLayer().expires_after(server_.options.read_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->Close();
                                self->Read(true);
                              });
    } else {
      Read(true);
    }
  }

  // Called by Shutdown() for sessions that wait for a request.
  void CloseIdle() {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->idle_) self->Close();
    });
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  beast::tcp_stream& TcpLayer() {
    if constexpr (kTls) {
      return beast::get_lowest_layer(stream_);
    } else {
      return stream_;
    }
  }

  void Read(bool first) {
    if (server_.stopping) return Close();
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_.options.max_header_bytes));
    parser_->body_limit(server_.options.max_body_bytes);
    // The first request of a connection must be complete within the read timeout. On a
    // kept-alive connection the next request may take up to the idle timeout, counted
    // from the end of the previous response (one timer covers waiting and reading).
    // Beast's own stream timeout closes the socket, which would leave no way to answer
    // 408; this timer cancels the read instead and leaves the socket open.
    TcpLayer().expires_never();
    timed_out_ = false;
    read_timer_.expires_after(first ? server_.options.read_timeout : server_.options.idle_timeout);
    read_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec) return;  // cancelled: the read finished first
      self->timed_out_ = true;
      beast::error_code ignored;
      self->TcpLayer().socket().cancel(ignored);
    });
    idle_ = true;
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    idle_ = false;
    read_timer_.cancel();
    if (ec && timed_out_) {
      // Idle connections close quietly; a half-sent request gets a 408 (over plain TCP;
      // a TLS stream interrupted mid-record cannot be written to, so it is closed).
      if (kTls || (buffer_.size() == 0 && !parser_->got_some())) return Close();
      return WriteError(408, "Request Timeout");
    }
    if (ec == bhttp::error::end_of_stream || ec == asio::error::operation_aborted) return Close();
    if (ec == bhttp::error::header_limit) return WriteError(431, "Request Header Fields Too Large");
    if (ec == bhttp::error::body_limit) return WriteError(413, "Request Entity Too Large");
    if (ec) {
      if (parser_->got_some()) return WriteError(400, "Bad Request");
      return Close();
    }
    Handle(parser_->release());
  }

  void Handle(bhttp::request<bhttp::string_body> msg) {
    const auto start = std::chrono::steady_clock::now();
    Request request;
    request.method = std::string(msg.method_string());
    request.target = std::string(msg.target());
    request.remote_address = remote_;
    request.tls = kTls;
    for (const auto& field : msg) {
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    std::string_view correlation = request.Header("correlation-id");
    request.request_id =
        IsSafeCorrelationId(correlation) ? std::string(correlation) : NewRequestId();
    request.body = std::move(msg.body());

    Response response;
    if (!SplitTarget(request.target, &request.path, &request.query)) {
      response = Response::Detail(400, "Bad Request");
    } else {
      try {
        response = server_.handler(request);
      } catch (const std::exception& e) {
        std::cerr << "airlock: handler for " << request.method << " " << request.path
                  << " threw: " << e.what() << "\n";
        response = Response::Detail(500, "Internal Server Error");
      } catch (...) {
        response = Response::Detail(500, "Internal Server Error");
      }
    }
    const bool keep_alive = msg.keep_alive() && !server_.stopping;
    Write(std::move(response), keep_alive, request.request_id);
    if (server_.options.on_response) {
      server_.options.on_response(request, response_status_,
                                  std::chrono::duration_cast<std::chrono::microseconds>(
                                      std::chrono::steady_clock::now() - start));
    }
  }

  void Write(Response response, bool keep_alive, const std::string& request_id) {
    auto msg = std::make_shared<bhttp::response<bhttp::string_body>>();
    msg->version(11);
    msg->result(static_cast<unsigned>(response.status));
    msg->set(bhttp::field::server, "airlock");
    for (auto& [k, v] : response.headers) msg->set(k, v);
    if (!request_id.empty()) msg->set("correlation-id", request_id);
    msg->body() = std::move(response.body);
    msg->keep_alive(keep_alive);
    msg->prepare_payload();
    response_status_ = response.status;
    TcpLayer().expires_after(server_.options.read_timeout);
    bhttp::async_write(
        stream_, *msg,
        [self = this->shared_from_this(), msg, keep_alive](beast::error_code ec, size_t) {
          if (ec || !keep_alive) return self->Close();
          self->Read(false);
        });
  }

  void WriteError(int status, std::string_view detail) {
    Write(Response::Detail(status, detail), false, "");
  }

  void Close() {
    read_timer_.cancel();
    beast::error_code ec;
    if constexpr (kTls) {
      // No TLS close_notify round trip: the peer may be gone, and waiting for it would
      // hold the connection open.
      TcpLayer().socket().shutdown(tcp::socket::shutdown_both, ec);
    } else {
      stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    }
    TcpLayer().close();
  }

  Server::Impl& server_;
  Stream stream_;
  std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  asio::steady_timer read_timer_;
  int response_status_ = 0;
  // Both only touched on the session's strand.
  bool idle_ = false;
  bool timed_out_ = false;
};

}  // namespace

void Server::Impl::Accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (!stopping && acceptor.is_open()) Accept();
      return;
    }
    beast::error_code rec;
    auto endpoint = socket.remote_endpoint(rec);
    std::string remote = rec ? "" : endpoint.address().to_string();
    if (tls) {
      auto session = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
          *this, beast::ssl_stream<beast::tcp_stream>(std::move(socket), *tls), std::move(remote));
      Track(session);
      session->Run();
    } else {
      auto session = std::make_shared<Session<beast::tcp_stream>>(
          *this, beast::tcp_stream(std::move(socket)), std::move(remote));
      Track(session);
      session->Run();
    }
    if (!stopping) Accept();
  });
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Shutdown(); }

uint16_t Server::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

Result<std::unique_ptr<Server>> Server::Start(ServerOptions options, Handler handler) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->handler = std::move(handler);
  const ServerOptions& o = impl->options;

  if (!o.tls_cert_file.empty() || !o.tls_key_file.empty()) {
    if (o.tls_cert_file.empty() || o.tls_key_file.empty()) {
      return InvalidArgument("HTTPS needs both a certificate and a key file");
    }
    impl->tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    beast::error_code ec;
    impl->tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                           asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                           asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    impl->tls->use_certificate_chain_file(o.tls_cert_file, ec);
    if (ec) return InvalidArgument("cannot load TLS certificate " + o.tls_cert_file);
    impl->tls->use_private_key_file(o.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) return InvalidArgument("cannot load TLS key " + o.tls_key_file);
  }

  beast::error_code ec;
  auto address = asio::ip::make_address(o.host, ec);
  if (ec) return InvalidArgument("not an IP address: " + o.host);
  tcp::endpoint endpoint(address, o.port);
  auto& acceptor = impl->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Unavailable("cannot listen on " + o.host + ":" + std::to_string(o.port) + ": " +
                       ec.message());
  }
  impl->Accept();
  int threads = o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency());
  if (threads <= 0) threads = 1;
  Impl* raw = impl.get();
  for (int i = 0; i < threads; ++i) {
    impl->threads.emplace_back([raw] { raw->ioc.run(); });
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::Shutdown() {
  if (!impl_) return;
  std::call_once(impl_->shutdown_once, [this] {
    Impl& impl = *impl_;
    impl.stopping = true;
    asio::post(impl.acceptor.get_executor(), [&impl] {
      beast::error_code ec;
      impl.acceptor.close(ec);
    });
    std::vector<Impl::SessionRef> sessions;
    {
      std::lock_guard lock(impl.sessions_mu);
      sessions.swap(impl.sessions);
    }
    for (auto& s : sessions) s.close_if_idle();
    // In-flight requests finish: their sessions write the response with keep-alive off and
    // close; then the io_context runs out of work and the threads return.
    for (auto& t : impl.threads) {
      if (t.joinable()) t.join();
    }
  });
}

}  // namespace airlock::http
