#include <gtest/gtest.h>

#include "joulebench/units.hpp"

namespace joulebench {
namespace {

TEST(ParseDuration, AcceptsEveryUnit) {
  EXPECT_DOUBLE_EQ(parse_duration("250us").count(), 250e-6);
  EXPECT_DOUBLE_EQ(parse_duration("10ms").count(), 0.01);
  EXPECT_DOUBLE_EQ(parse_duration("1.5s").count(), 1.5);
  EXPECT_DOUBLE_EQ(parse_duration("2m").count(), 120.0);
  EXPECT_DOUBLE_EQ(parse_duration("2min").count(), 120.0);
  EXPECT_DOUBLE_EQ(parse_duration("1h").count(), 3600.0);
}

TEST(ParseDuration, RefusesToGuessAUnit) {
  EXPECT_THROW(parse_duration("10"), std::invalid_argument);
  EXPECT_THROW(parse_duration("10 parsecs"), std::invalid_argument);
  EXPECT_THROW(parse_duration("fast"), std::invalid_argument);
  EXPECT_THROW(parse_duration("-5s"), std::invalid_argument);
  EXPECT_THROW(parse_duration(""), std::invalid_argument);
  try {
    parse_duration("10");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("no unit"), std::string::npos);
  }
}

TEST(ParseDuration, RefusesWhatDoesNotFitTheClock) {
  // 3000000h overflowed the clock's nanoseconds: a timeout fired at 0 s, a cool-down never waited.
  EXPECT_DOUBLE_EQ(parse_duration("8760h").count(), kLongestDuration.count());
  for (const char* text : {"3000000h", "99999999999999999h", "1e300s", "8761h", "600000m"}) {
    try {
      parse_duration(text);
      ADD_FAILURE() << text << " was taken";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("longer than a year"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace joulebench
