#pragma once
// DrainAwareSocket: a TCP socket whose reads tell Asio's reactor when they have emptied
// the socket, so that the next read waits for data without a system call of its own.
//
// Why: Asio (Boost 1.81, epoll) attempts every read at once, and only a read that
// returns 0 (end of stream) tells it that the socket is empty. On a kept-alive
// connection the next request arrives only after the response, so that first attempt
// fails with EAGAIN: one wasted system call per request. Asking for readability first
// (async_wait) costs one too, an epoll_ctl that re-arms the descriptor. This socket's
// read does what nginx does instead: a read that returned fewer bytes than it asked for
// has emptied the socket (the kernel hands over everything queued, up to the size asked
// for), and reports that to the reactor as "done and exhausted". The reactor then
// queues the next read without attempting it, and performs it on the next readiness
// event, which the descriptor's edge-triggered registration raises for any data that
// arrives after that read.
//
// The reactor's calls used here (reactor::start_op, reactor_op's statuses, the handler
// allocation and work-tracking helpers) are Asio's own building blocks for its socket
// operations, in boost::asio::detail: this file depends on Boost 1.81's epoll reactor,
// the only one Debian 12 ships.
//
// Only for a socket whose event loop runs on one thread (io_context with a concurrency
// hint of 1): received() and recv_calls() are counted on that thread. Not movable while a
// read is pending (the read counts into the socket).
// Include only in the .cc that defines a server's sessions: it is heavy.

#include <sys/socket.h>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/query.hpp>
#include <boost/version.hpp>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <utility>

#if BOOST_VERSION / 100 != 1081
#error "DrainAwareSocket uses Boost 1.81's reactor internals: check them before changing Boost"
#endif

namespace airlock::http {

namespace drain_aware_detail {

namespace asio = boost::asio;

struct Counts {
  uint64_t received = 0;    // bytes
  uint64_t recv_calls = 0;  // recv() system calls, those that found nothing included
};

// One read of a DrainAwareSocket, queued in the reactor like Asio's own receive.
template <typename Handler, typename IoExecutor>
class ReadOp : public asio::detail::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(ReadOp);

  ReadOp(int fd, asio::mutable_buffer buffer, Counts* counts, Handler& handler,
         const IoExecutor& io_ex)
      : reactor_op(boost::system::error_code(), &ReadOp::Perform, &ReadOp::Complete),
        fd_(fd),
        buffer_(buffer),
        counts_(counts),
        handler_(std::move(handler)),
        work_(handler_, io_ex) {}

 private:
  // Called by the reactor, on the event loop's thread, with the descriptor's lock held.
  static status Perform(reactor_op* base) {
    auto* op = static_cast<ReadOp*>(base);
    for (;;) {
      ++op->counts_->recv_calls;
      const ssize_t n = ::recv(op->fd_, op->buffer_.data(), op->buffer_.size(), 0);
      if (n > 0) {
        op->bytes_transferred_ = static_cast<size_t>(n);
        op->counts_->received += static_cast<uint64_t>(n);
        return static_cast<size_t>(n) < op->buffer_.size() ? done_and_exhausted : done;
      }
      if (n == 0) {
        op->ec_ = asio::error::eof;
        return done_and_exhausted;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;
      op->ec_ = boost::system::error_code(errno, asio::error::get_system_category());
      return done;
    }
  }

  // Called by the scheduler: frees the operation, then calls the handler (unless the
  // event loop is being destroyed, owner == nullptr).
  static void Complete(void* owner, asio::detail::operation* base, const boost::system::error_code&,
                       std::size_t) {
    auto* op = static_cast<ReadOp*>(base);
    ptr p = {std::addressof(op->handler_), op, op};
    asio::detail::handler_work<Handler, IoExecutor> work(std::move(op->work_));
    // The handler is moved out before the operation's memory is released, and called
    // after, so that it may start the next read in that memory.
    asio::detail::binder2<Handler, boost::system::error_code, std::size_t> call(
        op->handler_, op->ec_, op->bytes_transferred_);
    p.h = std::addressof(call.handler_);
    p.reset();
    if (owner != nullptr) {
      asio::detail::fenced_block block(asio::detail::fenced_block::half);
      work.complete(call, call.handler_);
    }
  }

  int fd_;
  asio::mutable_buffer buffer_;
  Counts* counts_;
  Handler handler_;
  asio::detail::handler_work<Handler, IoExecutor> work_;
};

}  // namespace drain_aware_detail

class DrainAwareSocket : public boost::asio::ip::tcp::socket {
 public:
  explicit DrainAwareSocket(boost::asio::ip::tcp::socket&& socket)
      : boost::asio::ip::tcp::socket(std::move(socket)),
        reactor_(&boost::asio::use_service<boost::asio::detail::reactor>(
            boost::asio::query(get_executor(), boost::asio::execution::context))) {}

  // Bytes that reads have taken from the socket so far, including those of a read whose
  // handler has not run yet.
  uint64_t received() const { return counts_.received; }
  // recv() calls the reads have made so far, including those that found no data (tests).
  uint64_t recv_calls() const { return counts_.recv_calls; }

  // As tcp::socket's, into the first buffer of the sequence.
  template <typename MutableBufferSequence, typename ReadToken>
  auto async_read_some(const MutableBufferSequence& buffers, ReadToken&& token) {
    return boost::asio::async_initiate<ReadToken, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBufferSequence& buffers) {
          StartRead(*boost::asio::buffer_sequence_begin(buffers), std::move(handler));
        },
        token, buffers);
  }

 private:
  template <typename Handler>
  void StartRead(boost::asio::mutable_buffer buffer, Handler handler) {
    namespace asio = boost::asio;
    namespace detail = boost::asio::detail;
    // Per-operation cancellation and empty reads take tcp::socket's own path (the server
    // uses neither).
    if (asio::get_associated_cancellation_slot(handler).is_connected() || buffer.size() == 0) {
      return asio::ip::tcp::socket::async_read_some(asio::mutable_buffers_1(buffer),
                                                    std::move(handler));
    }
    auto& impl = impl_.get_implementation();
    const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
    using Op = drain_aware_detail::ReadOp<Handler, executor_type>;
    typename Op::ptr p = {std::addressof(handler), Op::ptr::allocate(handler), nullptr};
    p.p = new (p.v) Op(impl.socket_, buffer, &counts_, handler, get_executor());
    if ((impl.state_ & detail::socket_ops::non_blocking) != 0 ||
        detail::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true, p.p->ec_)) {
      reactor_->start_op(detail::reactor::read_op, impl.socket_, impl.reactor_data_, p.p,
                         is_continuation, /*allow_speculative=*/true);
    } else {
      reactor_->post_immediate_completion(p.p, is_continuation);
    }
    p.v = p.p = nullptr;
  }

  boost::asio::detail::reactor* reactor_;
  drain_aware_detail::Counts counts_;
};

}  // namespace airlock::http
