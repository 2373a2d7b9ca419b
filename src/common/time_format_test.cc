#include "common/time_format.h"

#include <gtest/gtest.h>

namespace airlock {
namespace {

TEST(TimeFormatTest, FormatsUtc) {
  EXPECT_EQ(FormatUtcSeconds(1800000000), "2027-01-15T08:00:00Z");
  EXPECT_EQ(FormatUtcSeconds(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatUtcMicros(1800000000123456), "2027-01-15T08:00:00.123456Z");
  EXPECT_EQ(FormatUtcMicros(-1), "1969-12-31T23:59:59.999999Z");
}

TEST(TimeFormatTest, ParsesRfc3339WithZonesAndFractions) {
  EXPECT_EQ(ParseRfc3339("2027-01-15T08:00:00Z"), 1800000000);
  EXPECT_FALSE(ParseRfc3339("2027-01-15t08:00:00Z").has_value());  // only "T" or " "
  EXPECT_EQ(ParseRfc3339("2027-01-15 08:00:10.5Z"), 1800000010);
  EXPECT_EQ(ParseRfc3339("2027-01-15T09:00:10.123456+01:00"), 1800000010);
  EXPECT_EQ(ParseRfc3339("2027-01-15T07:00:00-01:00"), 1800000000);
  EXPECT_EQ(ParseRfc3339(FormatUtcSeconds(1234567890)), 1234567890);
}

TEST(TimeFormatTest, RefusesWhatIsNotAnRfc3339DateTime) {
  for (std::string_view bad :
       {"", "yesterday", "2027-01-15", "2027-01-15T08:00:00", "2027-13-15T08:00:00Z",
        "2027-01-15T24:00:00Z", "2027-01-15T08:00:00.Z", "2027-01-15T08:00:00+0100",
        "2027-01-15T08:00:00+25:00", "2027-01-15T08:00:00Zjunk", "+2027-01-15T08:00:00Z"}) {
    EXPECT_FALSE(ParseRfc3339(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace airlock
