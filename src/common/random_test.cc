#include "common/random.h"

#include <gtest/gtest.h>

#include <set>

namespace airlock {
namespace {

TEST(RandomTest, Uuid4HexHasVersionAndVariantBits) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    auto id = Uuid4Hex();
    ASSERT_TRUE(id.has_value());
    ASSERT_EQ(id->size(), 32u);
    EXPECT_EQ((*id)[12], '4');
    EXPECT_NE(std::string("89ab").find((*id)[16]), std::string::npos);
    EXPECT_EQ(id->find_first_not_of("0123456789abcdef"), std::string::npos);
    seen.insert(*id);
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(RandomTest, Uuid4IsCanonicalForm) {
  auto id = Uuid4();
  ASSERT_TRUE(id.has_value());
  ASSERT_EQ(id->size(), 36u);
  EXPECT_EQ((*id)[8], '-');
  EXPECT_EQ((*id)[13], '-');
  EXPECT_EQ((*id)[14], '4');
}

}  // namespace
}  // namespace airlock
