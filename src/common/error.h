#pragma once
// Error is airlock's one error type: a canonical code (Abseil's set) and a message.
// Functions that can fail return Result<T> = std::expected<T, Error>; our code does not
// throw. Messages are for people: they say what failed and never contain a secret or a
// token. HttpStatus() is the one table that maps codes to HTTP statuses.

#include <cerrno>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace airlock {

enum class ErrorCode {
  kInvalidArgument,
  kUnauthenticated,
  kPermissionDenied,
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kOutOfRange,
  kResourceExhausted,
  kDeadlineExceeded,
  kUnavailable,
  kUnimplemented,
  kInternal,
};

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "NotFound: variable 'x' does not exist".
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>", same code.
  Error WithContext(std::string_view context) const;

 private:
  ErrorCode code_;
  std::string message_;
};

std::string_view ErrorCodeName(ErrorCode code);

// The HTTP status that an error of this code is answered with.
int HttpStatus(ErrorCode code);

template <typename T>
using Result = std::expected<T, Error>;

// Shorthands for building the unexpected side: `return InvalidArgument("...")`.
std::unexpected<Error> InvalidArgument(std::string message);
std::unexpected<Error> Unauthenticated(std::string message);
std::unexpected<Error> PermissionDenied(std::string message);
std::unexpected<Error> NotFound(std::string message);
std::unexpected<Error> AlreadyExists(std::string message);
std::unexpected<Error> FailedPrecondition(std::string message);
std::unexpected<Error> Unavailable(std::string message);
std::unexpected<Error> Internal(std::string message);

// "<call>: <strerror(err)>", for messages about a failed system call, e.g.
// ErrnoMessage("open(" + path + ")") → "open(/x): No such file or directory".
std::string ErrnoMessage(std::string_view call, int err = errno);

}  // namespace airlock
