#include "http/drain_aware_socket.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <optional>
#include <string>

namespace airlock::http {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// A DrainAwareSocket connected over loopback to a plain socket the test writes with.
class DrainAwareSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tcp::acceptor acceptor(ioc_, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    peer_.connect(acceptor.local_endpoint());
    server_.emplace(acceptor.accept());
  }

  // Starts a read of up to `size` bytes; its result lands in `read_`.
  void StartRead(size_t size) {
    buffer_.assign(size, '\0');
    read_.reset();
    server_->async_read_some(asio::buffer(buffer_), [this](boost::system::error_code ec, size_t n) {
      ASSERT_FALSE(ec) << ec.message();
      read_ = buffer_.substr(0, n);
    });
  }

  // Runs the event loop until `n` bytes wait in the server's socket (or a second has
  // passed), so that a read finds them all there.
  void WaitAvailable(size_t n) {
    for (int i = 0; i < 100 && server_->available() < n; ++i) {
      ioc_.run_one_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(server_->available(), n);
  }

  // Runs the event loop until the read has completed (or a second has passed).
  void RunUntilRead() {
    for (int i = 0; i < 100 && !read_; ++i) ioc_.run_one_for(std::chrono::milliseconds(10));
  }

  void PeerSends(std::string_view data) { asio::write(peer_, asio::buffer(data)); }

  asio::io_context ioc_{1};
  // Keeps the event loop from stopping for lack of work between the test's steps.
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(ioc_);
  tcp::socket peer_{ioc_};
  std::optional<DrainAwareSocket> server_;
  std::string buffer_;
  std::optional<std::string> read_;
};

// A read that got fewer bytes than it asked for emptied the socket: the next read waits
// for data without trying the socket first (no recv() that would find nothing).
TEST_F(DrainAwareSocketTest, AReadThatEmptiedTheSocketMakesTheNextOneWaitWithoutARecv) {
  PeerSends("hello");
  WaitAvailable(5);
  StartRead(4096);
  RunUntilRead();
  ASSERT_EQ(read_, "hello");
  EXPECT_EQ(server_->recv_calls(), 1u);

  StartRead(4096);
  ioc_.poll();  // nothing has arrived: the read is queued, not attempted
  EXPECT_FALSE(read_.has_value());
  EXPECT_EQ(server_->recv_calls(), 1u);

  PeerSends("world");
  RunUntilRead();
  EXPECT_EQ(read_, "world");
  EXPECT_EQ(server_->recv_calls(), 2u);
  EXPECT_EQ(server_->received(), 10u);
}

// A read that filled its buffer may have left bytes behind, so the next read tries the
// socket at once and gets them.
TEST_F(DrainAwareSocketTest, AReadThatFilledItsBufferIsFollowedByAnAttempt) {
  PeerSends("0123456789abcdef");
  WaitAvailable(16);
  StartRead(10);
  RunUntilRead();
  ASSERT_EQ(read_, "0123456789");

  StartRead(10);
  ioc_.poll();
  EXPECT_EQ(read_, "abcdef");
  EXPECT_EQ(server_->recv_calls(), 2u);
}

// Data that arrives between a read that emptied the socket and the next read is not
// lost: the readiness event it raised is kept for the next read.
TEST_F(DrainAwareSocketTest, DataArrivingBetweenReadsIsRead) {
  PeerSends("one");
  StartRead(4096);
  RunUntilRead();
  ASSERT_EQ(read_, "one");
  PeerSends("two");
  ioc_.poll();  // the event loop sees the data arrive while no read is pending
  StartRead(4096);
  RunUntilRead();
  EXPECT_EQ(read_, "two");
}

TEST_F(DrainAwareSocketTest, EndOfStreamIsReported) {
  peer_.shutdown(tcp::socket::shutdown_send);
  std::optional<boost::system::error_code> result;
  char byte = 0;
  server_->async_read_some(asio::buffer(&byte, 1),
                           [&](boost::system::error_code ec, size_t) { result = ec; });
  for (int i = 0; i < 100 && !result; ++i) ioc_.run_one_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, asio::error::eof);
}

// Beast and asio::async_read use the socket through async_read_some.
TEST_F(DrainAwareSocketTest, ComposedReadsWork) {
  PeerSends("abc");
  std::string data(6, '\0');
  std::optional<size_t> got;
  asio::async_read(*server_, asio::buffer(data), [&](boost::system::error_code ec, size_t n) {
    EXPECT_FALSE(ec) << ec.message();
    got = n;
  });
  ioc_.poll();
  PeerSends("def");
  for (int i = 0; i < 100 && !got; ++i) ioc_.run_one_for(std::chrono::milliseconds(10));
  EXPECT_EQ(got, 6u);
  EXPECT_EQ(data, "abcdef");
}

// A pending read is cancelled with the socket's cancel(), as Asio's own are.
TEST_F(DrainAwareSocketTest, CancelAbortsAPendingRead) {
  std::optional<boost::system::error_code> result;
  char byte = 0;
  server_->async_read_some(asio::buffer(&byte, 1),
                           [&](boost::system::error_code ec, size_t) { result = ec; });
  ioc_.poll();
  ASSERT_FALSE(result.has_value());
  server_->cancel();
  ioc_.poll();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, asio::error::operation_aborted);
}

}  // namespace
}  // namespace airlock::http
