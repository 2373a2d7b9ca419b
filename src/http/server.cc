#include "http/server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/grammar/lut_chars.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/pct_string_view.hpp>
#include <boost/url/rfc/pchars.hpp>
#include <cstddef>
#include <cstring>
#include <functional>
#include <mutex>
#include <new>
#include <optional>
#include <thread>

#include "common/random.h"
#include "common/thread_name.h"
#include "http/drain_aware_socket.h"
#include "http/response_writer.h"

namespace airlock::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using SteadyTime = std::chrono::steady_clock::time_point;

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

// Sets `id` to a version 4 UUID, for a request that brought no correlation-id. Request
// ids must be unique, not unpredictable: each thread draws one seed from the CSPRNG and
// steps a SplitMix64 generator from it, where a CSPRNG draw per request cost a lock and a
// system call on the hot path.
void NewRequestId(std::string& id) {
  thread_local uint64_t state = [] {
    uint64_t seed = 0;
    if (auto bytes = RandomBytes(sizeof seed)) std::memcpy(&seed, bytes->data(), sizeof seed);
    return seed ^ std::hash<std::thread::id>()(std::this_thread::get_id());
  }();
  auto next = [] {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  };
  const uint64_t hi = (next() & ~0xF000ULL) | 0x4000ULL;        // version 4
  const uint64_t lo = (next() & ~(3ULL << 62)) | (2ULL << 62);  // variant 10
  static constexpr char kHex[] = "0123456789abcdef";
  id.assign(36, '-');
  size_t pos = 0;
  auto put = [&](uint64_t v, int nibbles) {
    for (int i = nibbles - 1; i >= 0; --i) {
      if (pos == 8 || pos == 13 || pos == 18 || pos == 23) ++pos;
      id[pos++] = kHex[(v >> (4 * i)) & 0xF];
    }
  };
  put(hi, 16);
  put(lo, 16);
}

// What an origin-form target without a query or a percent-encoding may hold: RFC 3986's
// pchar, less pct-encoded, and '/'.
constexpr auto kPlainPathChars = boost::urls::pchars + '/';

// Tested a byte at a time against the set's own table: Boost.URL's find_if_not builds a
// 16-byte mask per step, which costs more on targets of 50-80 bytes.
bool IsPlainPath(std::string_view target) {
  if (!target.starts_with('/')) return false;
  for (char c : target) {
    if (!kPlainPathChars(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Splits the request target into a percent-decoded path and the raw query; both are
// empty if the target is not in origin-form.
bool SplitTarget(std::string_view target, std::string* path, std::string* query) {
  // A plain path is its own decoding. Most targets are plain, and for them this one scan
  // replaces parsing the target segment by segment and then decoding it.
  if (IsPlainPath(target)) {
    path->assign(target);
    query->clear();
    return true;
  }
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) {
    path->clear();
    query->clear();
    return false;
  }
  *path = std::string(parsed->path());  // decoded
  *query = std::string(parsed->encoded_query());
  return true;
}

// The buffer a connection reads requests into starts this large: an Execution API
// request (headers with a token, a small body) fits in one read.
constexpr size_t kReadBufferBytes = 4096;

// A request's body buffer is kept for the connection's next request up to this capacity.
constexpr size_t kKeptBodyBytes = 4096;

// Memory for the header fields of the request a connection is reading. Beast allocates
// each field on its own; taken from here, a request's fields need no allocation while
// they fit, and the next request on the connection reuses the space. Fields that do not
// fit go to the heap.
class FieldMemory {
 public:
  void* Allocate(size_t bytes, size_t align) {
    const size_t start = (used_ + align - 1) / align * align;
    if (align <= alignof(std::max_align_t) && start + bytes <= sizeof buffer_) {
      used_ = start + bytes;
      return buffer_ + start;
    }
    return ::operator new(bytes, std::align_val_t(align));
  }
  void Deallocate(void* p, size_t bytes, size_t align) {
    if (Holds(p)) return;  // freed by Reset()
    ::operator delete(p, bytes, std::align_val_t(align));
  }
  // Only once no field allocated here is alive.
  void Reset() { used_ = 0; }

 private:
  // std::less orders any two pointers, where < on pointers into different objects does
  // not.
  bool Holds(const void* p) const {
    const auto* q = static_cast<const std::byte*>(p);
    return !std::less<const std::byte*>()(q, buffer_) &&
           std::less<const std::byte*>()(q, buffer_ + sizeof buffer_);
  }
  alignas(std::max_align_t) std::byte buffer_[1024];
  size_t used_ = 0;
};

// Memory for the asynchronous operations of a connection: the state Asio allocates for
// each read and each write until it completes. Asio's own cache keeps two freed blocks
// per thread, and an I/O thread that answers a batch of heartbeats (heartbeat_batcher.h)
// starts tens of writes at once and then as many reads, so nearly every operation went
// to malloc (1.7 per heartbeat under load, counted with heaptrack). A connection has one
// read or one write in flight, and Asio frees an operation before calling its handler,
// which starts the next one: a few slots hold them all. A larger block, or one more than
// the slots, comes from the heap. Used on the connection's I/O thread only.
class OperationMemory {
 public:
  void* Allocate(size_t bytes, size_t align) {
    if (bytes <= kSlotBytes && align <= alignof(std::max_align_t)) {
      for (Slot& slot : slots_) {
        if (!slot.used) {
          slot.used = true;
          return slot.bytes;
        }
      }
    }
    return ::operator new(bytes, std::align_val_t(align));
  }
  void Deallocate(void* p, size_t bytes, size_t align) {
    for (Slot& slot : slots_) {
      if (p == slot.bytes) {
        slot.used = false;
        return;
      }
    }
    ::operator delete(p, bytes, std::align_val_t(align));
  }

 private:
  // Boost 1.81's operations take 296 bytes (a write) and 472 (a read through Beast's
  // parser) on TCP, up to 552 on TLS.
  static constexpr size_t kSlotBytes = 576;
  struct Slot {
    alignas(std::max_align_t) std::byte bytes[kSlotBytes];
    bool used = false;
  };
  std::array<Slot, 2> slots_;
};

// An allocator over one of the memories above (FieldMemory or OperationMemory).
template <class T, class Memory>
struct MemoryAllocator {
  using value_type = T;
  explicit MemoryAllocator(Memory* memory) : memory(memory) {}
  template <class U>
  MemoryAllocator(const MemoryAllocator<U, Memory>& other) : memory(other.memory) {}
  T* allocate(size_t n) { return static_cast<T*>(memory->Allocate(n * sizeof(T), alignof(T))); }
  void deallocate(T* p, size_t n) { memory->Deallocate(p, n * sizeof(T), alignof(T)); }
  template <class U>
  bool operator==(const MemoryAllocator<U, Memory>& other) const {
    return memory == other.memory;
  }
  Memory* memory;
};

template <class T>
using FieldAllocator = MemoryAllocator<T, FieldMemory>;
using OperationAllocator = MemoryAllocator<std::byte, OperationMemory>;

using RequestParser = bhttp::request_parser<bhttp::string_body, FieldAllocator<char>>;
using RequestMessage = RequestParser::value_type;

// Whether a request's body, if it has a Transfer-Encoding at all, is in chunked coding
// and no other, the one coding the parser decodes. Two Transfer-Encoding fields make one
// list of codings, so they are refused too. (The parser trims a field's value.)
bool IsChunkedAlone(const RequestMessage& header) {
  auto [first, last] = header.equal_range(bhttp::field::transfer_encoding);
  if (first == last) return true;
  return std::next(first) == last && beast::iequals(first->value(), "chunked");
}

// What a Worker needs of a connection, whatever its stream type.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Acts on a deadline that has passed by `now`.
  virtual void Sweep(SteadyTime now) = 0;
  // At shutdown: closes the connection if it waits for a request that has not begun
  // (no byte of it received); otherwise brings its deadline forward to `limit`.
  virtual void BeginShutdown(SteadyTime limit) = 0;
};

}  // namespace

// One I/O thread with its own event loop and the connections dealt to it. `sessions` is
// touched only on that thread.
struct Worker final : EventLoop {
  void Post(std::move_only_function<void()> task) override { asio::post(ioc, std::move(task)); }

  asio::io_context ioc{1};
  asio::steady_timer sweep{ioc};
  std::vector<std::weak_ptr<SessionBase>> sessions;
  std::thread thread;
};

namespace {
thread_local EventLoop* this_threads_loop = nullptr;  // set on each I/O thread
}  // namespace

EventLoop* ThisThreadsEventLoop() { return this_threads_loop; }

struct Server::Impl {
  ServerOptions options;
  AsyncHandler handler;
  std::vector<std::unique_ptr<Worker>> workers;
  std::optional<tcp::acceptor> acceptor;  // on workers[0]
  size_t next_worker = 0;                 // only on workers[0]'s thread
  std::chrono::milliseconds tick{1000};
  std::unique_ptr<asio::ssl::context> tls;
  // Set once, before `stopping` becomes true: the latest deadline any phase may have then.
  SteadyTime shutdown_limit = SteadyTime::max();
  std::atomic<bool> stopping{false};
  std::once_flag shutdown_once;

  void Accept();
  void Open(Worker& worker, tcp::socket socket);
  void Sweep(Worker& worker);
};

namespace {

// One connection. Stream is DrainAwareSocket or asio::ssl::stream<DrainAwareSocket>; everything
// here runs on the thread of `worker`, except the Respond of an asynchronous handler,
// which posts its answer back to it.
template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(Server::Impl& server, Worker& worker, Stream stream, std::string remote)
      : server_(server), worker_(worker), stream_(std::move(stream)) {
    request_.remote_address = std::move(remote);
    request_.tls = kTls;
    // Beast reads into the buffer's spare capacity, at least 512 bytes. A request with a
    // token in it is longer than that, so without this every request took two reads and
    // a move of its first part.
    buffer_.reserve(kReadBufferBytes);
  }

  void Run() {
    worker_.sessions.push_back(this->weak_from_this());
    if constexpr (kTls) {
      Expect(Phase::kHandshake, server_.options.read_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              InOwnMemory([self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->Close();
                                self->Read(true);
                              }));
    } else {
      Read(true);
    }
  }

  void BeginShutdown(SteadyTime limit) override {
    if (phase_ == Phase::kReading && buffer_.size() == 0 && !parser_->got_some() &&
        !ReadTookBytes() && !BytesWaiting()) {
      return Close();
    }
    deadline_ = std::min(deadline_, limit);
  }

  void Sweep(SteadyTime now) override {
    if (now < deadline_) return;
    switch (phase_) {
      case Phase::kReading: {
        // Cancel the read but keep the socket, so that OnRead can still answer 408.
        phase_ = Phase::kHandling;
        timed_out_ = true;
        beast::error_code ignored;
        stream_.lowest_layer().cancel(ignored);
        return;
      }
      case Phase::kHandshake:
      case Phase::kWriting:
        return Close();
      case Phase::kHandling:
      case Phase::kClosed:
        return;
    }
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, DrainAwareSocket>;

  // What the connection waits for; only kHandshake, kReading and kWriting have a
  // deadline.
  enum class Phase { kHandshake, kReading, kHandling, kWriting, kClosed };

  // `handler`, with the connection's operation memory as its allocator: what Asio
  // allocates for the operation it completes comes from there.
  template <class Handler>
  auto InOwnMemory(Handler handler) {
    return asio::bind_allocator(OperationAllocator(&operations_), std::move(handler));
  }

  void Expect(Phase phase, std::chrono::milliseconds timeout) {
    phase_ = phase;
    deadline_ = std::chrono::steady_clock::now() + timeout;
    if (server_.stopping) deadline_ = std::min(deadline_, server_.shutdown_limit);
  }

  // Whether bytes the event loop has not read yet wait in the socket: a request begun.
  bool BytesWaiting() {
    beast::error_code ec;
    const size_t n = stream_.lowest_layer().available(ec);
    return !ec && n > 0;
  }

  void Read(bool first) {
    // While stopping, only a request that has begun is still read (Expect() keeps it
    // within the shutdown grace).
    if (server_.stopping && buffer_.size() == 0 && !BytesWaiting()) return Close();
    // The previous request's fields (in the parser, or in the message it released) are
    // gone once the parser is: their memory can be reused.
    parser_.reset();
    field_memory_.Reset();
    // The previous request (answered by now) lends its body's buffer to the next one, so
    // that small bodies on a kept-alive connection need no allocation; a large buffer is
    // not kept.
    std::string body = std::move(request_.body);
    body.clear();
    if (body.capacity() > kKeptBodyBytes) body = std::string();
    parser_.emplace(std::piecewise_construct, std::forward_as_tuple(std::move(body)),
                    std::make_tuple(FieldAllocator<char>(&field_memory_)));
    parser_->header_limit(static_cast<uint32_t>(server_.options.max_header_bytes));
    parser_->body_limit(server_.options.max_body_bytes);
    // The first request of a connection must be complete within the read timeout. On a
    // kept-alive connection the next request may take up to the idle timeout, counted
    // from the end of the previous response (one deadline covers waiting and reading).
    timed_out_ = false;
    received_before_ = Socket().received();
    Expect(Phase::kReading, first ? server_.options.read_timeout : server_.options.idle_timeout);
    ReadRequest();
  }

  // Whether a read of this request has taken bytes from the socket, which the parser may
  // not have seen yet (its handler runs later, and over TLS the bytes may still wait in
  // the TLS stream's own buffer).
  bool ReadTookBytes() const { return Socket().received() != received_before_; }

  const DrainAwareSocket& Socket() const {
    if constexpr (kTls) {
      return stream_.next_layer();
    } else {
      return stream_;
    }
  }

  // The header first, so that what it asks of the body is settled before any of the body
  // is read (OnHeader); then the body.
  void ReadRequest() {
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        InOwnMemory([self = this->shared_from_this()](beast::error_code ec, size_t) {
          self->OnHeader(ec);
        }));
  }

  void ReadBody() {
    // The body mostly arrives with the header: what of it is here already is parsed at
    // once, since one more asynchronous read would cost a tenth more per request.
    parser_->eager(true);
    while (!parser_->is_done() && buffer_.size() > 0) {
      beast::error_code ec;
      const size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == bhttp::error::need_more) break;
      if (ec) return OnRead(ec);
      if (used == 0) break;
    }
    if (parser_->is_done()) return OnRead({});
    bhttp::async_read(stream_, buffer_, *parser_,
                      InOwnMemory([self = this->shared_from_this()](beast::error_code ec, size_t) {
                        self->OnRead(ec);
                      }));
  }

  void OnHeader(beast::error_code ec) {
    if (ec || phase_ == Phase::kClosed) return OnRead(ec);
    const RequestMessage& header = parser_->get();
    // The parser reads a body in any other transfer coding as no body, and what follows
    // as the next request (RFC 9112 §6.1: a coding the server does not implement is 501).
    if (!IsChunkedAlone(header)) {
      phase_ = Phase::kHandling;
      return WriteError(501, "Not Implemented", true);
    }
    if (parser_->is_done()) return OnRead(ec);
    // A client that sends "Expect: 100-continue" waits for this before it sends the body
    // (curl for a second; others for good). Not needed once some of the body is here.
    if (header.version() == 11 && buffer_.size() == 0 &&
        beast::iequals(header[bhttp::field::expect], "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      return asio::async_write(
          stream_, asio::buffer(kContinue.data(), kContinue.size()),
          InOwnMemory([self = this->shared_from_this()](beast::error_code ec, size_t) {
            if (ec) return self->OnRead(ec);
            self->ReadBody();
          }));
    }
    ReadBody();
  }

  void OnRead(beast::error_code ec) {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kHandling;
    if (ec && timed_out_) {
      // Idle connections close quietly; a half-sent request gets a 408 (over plain TCP;
      // a TLS stream interrupted mid-record cannot be written to, so it is closed).
      if (kTls || (buffer_.size() == 0 && !parser_->got_some())) return Close();
      return WriteError(408, "Request Timeout", parser_->is_header_done());
    }
    if (ec == bhttp::error::end_of_stream || ec == asio::error::operation_aborted) return Close();
    if (ec == bhttp::error::header_limit) {
      return WriteError(431, "Request Header Fields Too Large", false);
    }
    if (ec == bhttp::error::body_limit) return WriteError(413, "Request Entity Too Large", true);
    if (ec) {
      if (parser_->got_some()) return WriteError(400, "Bad Request", parser_->is_header_done());
      return Close();
    }
    Handle(parser_->release());
  }

  void Handle(RequestMessage msg) {
    start_ = std::chrono::steady_clock::now();
    // The strings are assigned, not replaced: the requests of a kept-alive connection are
    // alike, so they mostly fit in what the previous request left allocated.
    request_.method.assign(msg.method_string());
    request_.target.assign(msg.target());
    Headers& headers = request_.headers;
    size_t n = 0;
    for (const auto& field : msg) {
      if (n == headers.size()) headers.emplace_back();
      headers[n].first.assign(field.name_string());
      headers[n].second.assign(field.value());
      ++n;
    }
    headers.resize(n);
    std::string_view correlation = request_.Header("correlation-id");
    if (IsSafeCorrelationId(correlation)) {
      request_.request_id.assign(correlation);
    } else {
      NewRequestId(request_.request_id);
    }
    request_.body = std::move(msg.body());
    keep_alive_ = msg.keep_alive();

    const uint64_t seq = ++seq_;
    awaiting_ = true;
    if (!SplitTarget(request_.target, &request_.path, &request_.query)) {
      // Answered here, not by a handler: on_refused learns of it instead of on_response.
      if (server_.options.on_refused) server_.options.on_refused(request_, 400);
      awaiting_ = false;
      return Write(Response::Detail(400, "Bad Request"), keep_alive_ && !server_.stopping,
                   request_.request_id);
    }
    try {
      server_.handler(request_, MakeRespond(seq));
    } catch (...) {
      Answer(seq, HandlerThrew(request_));
    }
  }

  // The Respond of request `seq`. It keeps the session alive until it is called (and no
  // longer: a caller may keep the spent Respond); an answer from another thread is posted
  // to the session's thread. A live session keeps its thread's event loop running (its
  // sweep, Server::Impl::Sweep), so the answer has a loop to run on. It holds no more
  // than std::move_only_function keeps inline, so making one allocates nothing.
  Respond MakeRespond(uint64_t seq) {
    return [self = this->shared_from_this(), seq](Response response) mutable {
      auto session = std::move(self);
      if (!session) return;  // called twice
      if (session->worker_.ioc.get_executor().running_in_this_thread()) {
        return session->Answer(seq, std::move(response));
      }
      asio::post(session->worker_.ioc, [session, seq, response = std::move(response)]() mutable {
        session->Answer(seq, std::move(response));
      });
    };
  }

  void Answer(uint64_t seq, Response response) {
    // A handler that threw was answered 500 already; its late answer, if any, is dropped.
    if (seq != seq_ || !awaiting_ || phase_ == Phase::kClosed) return;
    awaiting_ = false;
    Write(response, keep_alive_ && !server_.stopping, request_.request_id);
    if (server_.options.on_response) {
      server_.options.on_response(request_, response.status,
                                  std::chrono::duration_cast<std::chrono::microseconds>(
                                      std::chrono::steady_clock::now() - start_));
    }
  }

  void Write(const Response& response, bool keep_alive, std::string_view request_id) {
    WriteResponse(response, keep_alive, request_id, out_);
    Expect(Phase::kWriting, server_.options.read_timeout);
    asio::async_write(
        stream_, asio::buffer(out_),
        InOwnMemory([self = this->shared_from_this(), keep_alive](beast::error_code ec, size_t) {
          if (ec || !keep_alive) return self->Close();
          self->Read(false);
        }));
  }

  // An answer the server gives itself, before any handler saw the request (413, 431,
  // 408, 400, 501). on_refused learns of it, with what the request's header said when it
  // was read whole (an empty method and path otherwise). A body over the limit is refused
  // at the end of the header, before the parser counts the header as done.
  void WriteError(int status, std::string_view detail, bool header_read) {
    if (server_.options.on_refused) {
      request_.method.clear();
      request_.target.clear();
      request_.path.clear();
      request_.query.clear();
      request_.headers.clear();
      request_.body.clear();
      if (parser_ && header_read) {
        const RequestMessage& header = parser_->get();
        request_.method.assign(header.method_string());
        request_.target.assign(header.target());
        for (const auto& field : header) {
          request_.headers.emplace_back(field.name_string(), field.value());
        }
        if (!SplitTarget(request_.target, &request_.path, &request_.query)) request_.path.clear();
      }
      NewRequestId(request_.request_id);
      server_.options.on_refused(request_, status);
    }
    Write(Response::Detail(status, detail), false, "");
  }

  void Close() {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosed;
    // No TLS close_notify round trip: the peer may be gone, and waiting for it would hold
    // the connection open.
    beast::error_code ec;
    stream_.lowest_layer().shutdown(tcp::socket::shutdown_both, ec);
    stream_.lowest_layer().close(ec);
  }

  Server::Impl& server_;
  Worker& worker_;
  OperationMemory operations_;  // before stream_: its operations are allocated here
  Stream stream_;
  beast::flat_buffer buffer_;
  FieldMemory field_memory_;  // before parser_, which may hold fields from it
  std::optional<RequestParser> parser_;
  std::string out_;  // the response being written
  Request request_;  // the request being answered; valid until the next one is read
  SteadyTime start_;
  SteadyTime deadline_ = SteadyTime::max();
  Phase phase_ = Phase::kHandling;
  bool timed_out_ = false;
  uint64_t received_before_ = 0;  // Socket().received() when the request's read began
  bool keep_alive_ = false;
  bool awaiting_ = false;  // request seq_ has not been answered yet
  uint64_t seq_ = 0;
};

}  // namespace

void Server::Impl::Accept() {
  Worker& worker = *workers[next_worker++ % workers.size()];
  acceptor->async_accept(worker.ioc, [this, &worker](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (!stopping && acceptor->is_open()) Accept();
      return;
    }
    asio::post(worker.ioc, [this, &worker, socket = std::move(socket)]() mutable {
      Open(worker, std::move(socket));
    });
    if (!stopping) Accept();
  });
}

// On `worker`'s thread.
void Server::Impl::Open(Worker& worker, tcp::socket socket) {
  beast::error_code ec;
  auto endpoint = socket.remote_endpoint(ec);
  std::string remote = ec ? "" : endpoint.address().to_string();
  socket.set_option(tcp::no_delay(true), ec);
  if (tls) {
    using TlsStream = asio::ssl::stream<DrainAwareSocket>;
    std::make_shared<Session<TlsStream>>(
        *this, worker, TlsStream(DrainAwareSocket(std::move(socket)), *tls), std::move(remote))
        ->Run();
  } else {
    std::make_shared<Session<DrainAwareSocket>>(*this, worker, DrainAwareSocket(std::move(socket)),
                                                std::move(remote))
        ->Run();
  }
}

// On `worker`'s thread, every `tick`: acts on passed deadlines and forgets ended sessions.
// Once the server is stopping and its last session has ended, the sweep stops too, which
// lets the thread's event loop run out of work.
void Server::Impl::Sweep(Worker& worker) {
  const SteadyTime now = std::chrono::steady_clock::now();
  std::erase_if(worker.sessions, [now](const std::weak_ptr<SessionBase>& weak) {
    auto session = weak.lock();
    if (!session) return true;
    session->Sweep(now);
    return false;
  });
  if (stopping && worker.sessions.empty()) return;
  // While stopping, the last sessions are looked for often, so that Shutdown() returns
  // soon after they end.
  worker.sweep.expires_after(stopping ? std::chrono::milliseconds(10) : tick);
  worker.sweep.async_wait([this, &worker](beast::error_code ec) {
    if (!ec || stopping) Sweep(worker);
  });
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Shutdown(); }

uint16_t Server::port() const {
  beast::error_code ec;
  return impl_->acceptor->local_endpoint(ec).port();
}

Result<std::unique_ptr<Server>> Server::Start(ServerOptions options, Handler handler) {
  return Start(std::move(options), AsyncHandler([handler = std::move(handler)](
                                                    const Request& request, Respond respond) {
                 respond(handler(request));
               }));
}

Result<std::unique_ptr<Server>> Server::Start(ServerOptions options, AsyncHandler handler) {
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

  int threads = o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency());
  if (threads <= 0) threads = 1;
  for (int i = 0; i < threads; ++i) impl->workers.push_back(std::make_unique<Worker>());
  impl->tick = std::clamp(std::min(o.read_timeout, o.idle_timeout) / 4,
                          std::chrono::milliseconds(10), std::chrono::milliseconds(1000));

  beast::error_code ec;
  auto address = asio::ip::make_address(o.host, ec);
  if (ec) return InvalidArgument("not an IP address: " + o.host);
  tcp::endpoint endpoint(address, o.port);
  auto& acceptor = impl->acceptor.emplace(impl->workers[0]->ioc);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Unavailable("cannot listen on " + o.host + ":" + std::to_string(o.port) + ": " +
                       ec.message());
  }
  impl->Accept();
  Impl* raw = impl.get();
  for (auto& worker : impl->workers) {
    Worker* w = worker.get();
    raw->Sweep(*w);  // arms the first sweep; the event loop is not running yet
    w->thread = std::thread([w, n = static_cast<int>(&worker - impl->workers.data())] {
      NameThisThread("http-io-" + std::to_string(n));
      this_threads_loop = w;
      w->ioc.run();
      this_threads_loop = nullptr;
    });
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::Shutdown() {
  if (!impl_) return;
  std::call_once(impl_->shutdown_once, [this] {
    Impl& impl = *impl_;
    impl.shutdown_limit = std::chrono::steady_clock::now() + impl.options.shutdown_grace;
    impl.stopping = true;
    asio::post(impl.workers[0]->ioc, [&impl] {
      beast::error_code ec;
      impl.acceptor->close(ec);
    });
    // In-flight requests finish: their sessions write the response with keep-alive off and
    // close; then each sweep finds no session left, and the threads return.
    for (auto& worker : impl.workers) {
      Worker* w = worker.get();
      asio::post(w->ioc, [w, limit = impl.shutdown_limit] {
        for (auto& weak : w->sessions) {
          if (auto session = weak.lock()) session->BeginShutdown(limit);
        }
        w->sweep.cancel();  // its handler sweeps now, and then every 10 ms
      });
    }
    for (auto& worker : impl.workers) {
      if (worker->thread.joinable()) worker->thread.join();
    }
  });
}

}  // namespace airlock::http
