#include "dag_processor/bundles.h"

#include <gtest/gtest.h>

namespace airlock::dag_processor {
namespace {

const BundleConfig kFallback{.name = "dags-folder", .path = "/home/a/dags"};

TEST(BundlesTest, UnsetMeansTheDagsFolder) {
  for (std::string_view text : {"", "  \n"}) {
    auto bundles = ParseBundles(text, kFallback);
    ASSERT_TRUE(bundles.has_value());
    ASSERT_EQ(bundles->size(), 1u);
    EXPECT_EQ((*bundles)[0].name, "dags-folder");
    EXPECT_EQ((*bundles)[0].path, "/home/a/dags");
  }
}

TEST(BundlesTest, ListsLocalFoldersInOrder) {
  auto bundles = ParseBundles(
      R"([{"name":"team-b","path":"/srv/b"},{"path":"/srv/a","name":"team-a"}])", kFallback);
  ASSERT_TRUE(bundles.has_value()) << bundles.error().message();
  ASSERT_EQ(bundles->size(), 2u);
  EXPECT_EQ((*bundles)[0].name, "team-b");
  EXPECT_EQ((*bundles)[1].path, "/srv/a");
  EXPECT_EQ(BundlesClaim(*bundles), R"(["team-b","team-a"])");
}

TEST(BundlesTest, RefusesAnythingElse) {
  for (std::string_view text : {
           "dags-folder",
           "[]",
           R"({"name":"a","path":"/a"})",
           R"([{"name":"a"}])",
           R"([{"name":"a","path":"/a","team":"x"}])",
           R"([{"name":"a b","path":"/a"}])",
           R"([{"name":"a","path":"relative"}])",
           R"([{"name":"a","path":"/a"},{"name":"a","path":"/b"}])",
           R"([{"name":"a","path":"/a"},{"name":"b","path":"/a"}])",
           R"([{"name":"a","name":"b","path":"/a"}])",
       }) {
    auto bundles = ParseBundles(text, kFallback);
    ASSERT_FALSE(bundles.has_value()) << text;
    EXPECT_TRUE(bundles.error().message().starts_with("[dag_processor] bundles: "))
        << bundles.error().message();
  }
}

}  // namespace
}  // namespace airlock::dag_processor
