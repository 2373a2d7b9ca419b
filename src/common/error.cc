#include "common/error.h"

#include <cstring>

namespace airlock {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "InvalidArgument";
    case ErrorCode::kUnauthenticated:
      return "Unauthenticated";
    case ErrorCode::kPermissionDenied:
      return "PermissionDenied";
    case ErrorCode::kNotFound:
      return "NotFound";
    case ErrorCode::kAlreadyExists:
      return "AlreadyExists";
    case ErrorCode::kFailedPrecondition:
      return "FailedPrecondition";
    case ErrorCode::kOutOfRange:
      return "OutOfRange";
    case ErrorCode::kResourceExhausted:
      return "ResourceExhausted";
    case ErrorCode::kDeadlineExceeded:
      return "DeadlineExceeded";
    case ErrorCode::kUnavailable:
      return "Unavailable";
    case ErrorCode::kUnimplemented:
      return "Unimplemented";
    case ErrorCode::kInternal:
      return "Internal";
  }
  return "Unknown";
}

int HttpStatus(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kAlreadyExists:
      return 409;
    case ErrorCode::kFailedPrecondition:
      return 409;
    case ErrorCode::kOutOfRange:
      return 400;
    case ErrorCode::kResourceExhausted:
      return 429;
    case ErrorCode::kDeadlineExceeded:
      return 504;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kUnimplemented:
      return 501;
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

std::string Error::ToString() const {
  std::string out(ErrorCodeName(code_));
  out += ": ";
  out += message_;
  return out;
}

Error Error::WithContext(std::string_view context) const {
  std::string message(context);
  message += ": ";
  message += message_;
  return Error(code_, std::move(message));
}

std::unexpected<Error> InvalidArgument(std::string m) {
  return std::unexpected(Error(ErrorCode::kInvalidArgument, std::move(m)));
}
std::unexpected<Error> Unauthenticated(std::string m) {
  return std::unexpected(Error(ErrorCode::kUnauthenticated, std::move(m)));
}
std::unexpected<Error> PermissionDenied(std::string m) {
  return std::unexpected(Error(ErrorCode::kPermissionDenied, std::move(m)));
}
std::unexpected<Error> NotFound(std::string m) {
  return std::unexpected(Error(ErrorCode::kNotFound, std::move(m)));
}
std::unexpected<Error> AlreadyExists(std::string m) {
  return std::unexpected(Error(ErrorCode::kAlreadyExists, std::move(m)));
}
std::unexpected<Error> FailedPrecondition(std::string m) {
  return std::unexpected(Error(ErrorCode::kFailedPrecondition, std::move(m)));
}
std::unexpected<Error> Unavailable(std::string m) {
  return std::unexpected(Error(ErrorCode::kUnavailable, std::move(m)));
}
std::string ErrnoMessage(std::string_view call, int err) {
  return std::string(call) + ": " + std::strerror(err);
}

std::unexpected<Error> Internal(std::string m) {
  return std::unexpected(Error(ErrorCode::kInternal, std::move(m)));
}

}  // namespace airlock
