#include "dag_processor/dag_processor.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "execution_api/execution_api.h"
#include "http/router.h"
#include "jwt/validator.h"

namespace airlock::dag_processor {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kNow = 1'800'000'000;
constexpr char kAudience[] = "urn:airflow.apache.org:task";
constexpr char kUrl[] = "http://api.invalid/execution/";

class DagProcessorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = fs::temp_directory_path() /
              ("airlock-dag-processor-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(folder_);
    fs::create_directories(folder_);
    store_ = std::move(*store::OpenStore("memory://"));
    auto key = *jwt::Key::Generate(jwt::KeyType::kEd25519);
    keys_ = std::make_shared<jwt::StaticKeySource>(
        *jwt::KeySet::Create({{.key = key, .state = jwt::KeyState::kActive}}));
    validator_ = *jwt::Validator::Create(keys_, {.audiences = {kAudience}}, clock_);
    signer_ = std::make_unique<jwt::TokenSigner>(keys_, clock_);
    api_ = std::make_unique<execution_api::ExecutionApi>(
        *store_, *validator_, *signer_, clock_, nullptr, execution_api::ExecutionApiOptions{});
    api_->AddRoutes(router_, "/execution");
    token_ = *signer_->Mint({.sub = "dag-processor",
                             .aud = {kAudience},
                             .ttl_seconds = 3600,
                             .scope = "dag_processor",
                             .extra_claims = {{"bundles", R"(["dags-folder"])"}}});
  }
  void TearDown() override { fs::remove_all(folder_); }

  void Write(const std::string& name, const std::string& text) {
    fs::create_directories((folder_ / name).parent_path());
    std::ofstream(folder_ / name) << text;
  }

  DagProcessor Processor(std::string token = "") {
    return DagProcessor({.dags_folder = folder_.string(),
                         .execution_api_url = kUrl,
                         .token = token.empty() ? token_ : token},
                        [this](const http::ClientRequest& r) -> Result<http::ClientResponse> {
                          EXPECT_TRUE(r.url.starts_with("http://api.invalid/execution/"));
                          http::Request request;
                          request.method = r.method;
                          request.path = r.url.substr(std::string_view(kUrl).size() - 11);
                          request.target = request.path;
                          request.headers = r.headers;
                          request.body = r.body;
                          http::Response response = router_.Route(request);
                          return http::ClientResponse{.status = response.status,
                                                      .body = response.body};
                        });
  }

  static std::string DagYaml(const std::string& dag_id) {
    return "dag_id: " + dag_id + "\ntasks:\n  - task_id: a\n    command: [\"true\"]\n";
  }

  fs::path folder_;
  FakeClock clock_{kNow};
  std::unique_ptr<store::Store> store_;
  std::shared_ptr<jwt::StaticKeySource> keys_;
  std::unique_ptr<jwt::Validator> validator_;
  std::unique_ptr<jwt::TokenSigner> signer_;
  std::unique_ptr<execution_api::ExecutionApi> api_;
  http::Router router_;
  std::string token_;
};

TEST_F(DagProcessorTest, SubmitsGoodFilesAndReportsBadOnesWithoutAffectingOthers) {
  Write("a.yaml", DagYaml("alpha"));
  Write("team/b.yml", DagYaml("beta"));
  Write("bad.yaml", "dag_id: gamma\ntasks:\n  - task_id: a\n    command: [x]\n    upstream: [a]\n");
  Write("dup.yaml", DagYaml("alpha"));
  Write(".hidden.yaml", DagYaml("hidden"));
  Write("notes.txt", "not a dag");
  auto stats = Processor().ProcessOnce();
  ASSERT_TRUE(stats.has_value()) << stats.error().message();
  EXPECT_EQ(stats->files, 4);
  EXPECT_EQ(stats->submitted, 2);
  ASSERT_EQ(stats->errors.size(), 2u);
  EXPECT_EQ(stats->errors[0], "bad.yaml:3: task 'a': a task cannot be its own upstream");
  EXPECT_EQ(stats->errors[1], "dup.yaml: dag_id 'alpha' is already defined in a.yaml");
  auto beta = store_->GetDag("beta");
  ASSERT_TRUE(beta.has_value());
  EXPECT_EQ(beta->relative_fileloc, "team/b.yml");
  EXPECT_EQ(beta->bundle_name, "dags-folder");
  EXPECT_FALSE(store_->GetDag("gamma").has_value());
  EXPECT_FALSE(store_->GetDag("hidden").has_value());
}

TEST_F(DagProcessorTest, DeletesDagsWhoseFileIsGoneButKeepsBrokenOnes) {
  Write("a.yaml", DagYaml("alpha"));
  Write("b.yaml", DagYaml("beta"));
  ASSERT_EQ(Processor().ProcessOnce()->submitted, 2);
  fs::remove(folder_ / "a.yaml");
  Write("b.yaml", "dag_id: beta\ntasks: nonsense\n");
  auto stats = Processor().ProcessOnce();
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->deleted, 1);
  EXPECT_FALSE(store_->GetDag("alpha").has_value());
  EXPECT_TRUE(store_->GetDag("beta").has_value()) << "a broken file keeps its last good Dag";
}

TEST_F(DagProcessorTest, WithoutAValidTokenNothingIsWritten) {
  Write("a.yaml", DagYaml("alpha"));
  auto stats = Processor("not-a-token").ProcessOnce();
  ASSERT_FALSE(stats.has_value());
  EXPECT_NE(stats.error().message().find("Invalid auth token"), std::string::npos)
      << stats.error().message();
  EXPECT_FALSE(store_->GetDag("alpha").has_value());
}

}  // namespace
}  // namespace airlock::dag_processor
