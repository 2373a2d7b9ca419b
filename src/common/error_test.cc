#include "common/error.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace airlock {
namespace {

TEST(ErrorTest, MapsCodesToHttpStatuses) {
  EXPECT_EQ(HttpStatus(ErrorCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatus(ErrorCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatus(ErrorCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatus(ErrorCode::kNotFound), 404);
  EXPECT_EQ(HttpStatus(ErrorCode::kFailedPrecondition), 409);
  EXPECT_EQ(HttpStatus(ErrorCode::kInternal), 500);
}

TEST(ErrorTest, ContextIsPrependedAndCodeKept) {
  Result<int> r = NotFound("no such key");
  ASSERT_FALSE(r.has_value());
  Error e = r.error().WithContext("reading keys.pem");
  EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  EXPECT_EQ(e.message(), "reading keys.pem: no such key");
  EXPECT_EQ(e.ToString(), "NotFound: reading keys.pem: no such key");
}

TEST(ErrorTest, ErrnoMessageNamesTheCallAndTheErrno) {
  EXPECT_EQ(ErrnoMessage("open(/x)", ENOENT), "open(/x): No such file or directory");
  errno = EACCES;
  EXPECT_EQ(ErrnoMessage("mkdir(/y)"), "mkdir(/y): Permission denied");
}

}  // namespace
}  // namespace airlock
