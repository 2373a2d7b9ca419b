#include "http/json_checks.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace airlock::http {
namespace {

bool NonFinite(std::string_view text) { return HoldsNonFiniteNumber(boost::json::parse(text)); }

TEST(JsonChecksTest, FindsANumberTooLargeForADoubleAnywhere) {
  EXPECT_TRUE(NonFinite("1e309"));
  EXPECT_TRUE(NonFinite("-1e309"));
  EXPECT_TRUE(NonFinite(R"({"a":[1,{"b":1e400}]})"));
  EXPECT_TRUE(NonFinite(R"([0,[[-2e308]]])"));
}

TEST(JsonChecksTest, FiniteNumbersAndOtherValuesPass) {
  EXPECT_FALSE(NonFinite("1.7976931348623157e308"));  // the largest double
  EXPECT_FALSE(NonFinite("99999999999999999999"));    // read as a double, finite
  EXPECT_FALSE(NonFinite("1e-400"));                  // underflows to 0
  EXPECT_FALSE(NonFinite(R"({"a":[1,-0,2.5,"1e309",null,true,{}]})"));
}

}  // namespace
}  // namespace airlock::http
