#include "dag_processor/dag_processor.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/files.h"
#include "dags/dag.h"
#include "execution_api/execution_api.h"
#include "http/router.h"
#include "jwt/validator.h"
#include "supervisor/environment.h"

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

  void WriteExecutable(const std::string& name, const std::string& text) {
    Write(name, text);
    fs::permissions(folder_ / name,
                    fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                    fs::perm_options::add);
  }

  DagProcessor Processor(std::string token = "") {
    ExecutableRunOptions executable{.parent_environment = supervisor::CurrentEnvironment()};
    executable.limits.timeout = std::chrono::milliseconds(2000);
    executable.limits.max_output_bytes = 1 << 20;
    return DagProcessor({.dags_folder = folder_.string(),
                         .execution_api_url = kUrl,
                         .token = token.empty() ? token_ : token,
                         .min_file_process_interval = 30,
                         .executable = executable,
                         .clock = &clock_},
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

  // The import errors the api-server holds: filename → stack_trace.
  std::map<std::string, std::string> ImportErrors() {
    std::map<std::string, std::string> out;
    auto errors = store_->ListImportErrors();
    for (const store::ImportError& e : errors.value()) {
      EXPECT_EQ(e.bundle_name, "dags-folder");
      out[e.filename] = e.stack_trace;
    }
    return out;
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

TEST_F(DagProcessorTest, ExecutableFilesLoadAndEachBadOneIsAnImportErrorAlone) {
  WriteExecutable("good.py",
                  "#!/usr/bin/python3\nimport json\nprint(json.dumps([{'dag_id': 'py_"
                  "one', 'tasks': [{'task_id': 'a', 'command': ['true']}]},\n"
                  "  {'dag_id': 'py_two', 'tasks': [{'task_id': 'a', 'command': ['true']}]}]))\n");
  WriteExecutable("hang.sh", "#!/bin/sh\nexec sleep 600\n");
  WriteExecutable("fail.sh", "#!/bin/sh\necho 'cannot import etl_lib' >&2\nexit 3\n");
  WriteExecutable("garbage.sh", "#!/bin/sh\necho 'this is not json'\n");
  WriteExecutable("huge.py",
                  "#!/usr/bin/python3\nimport sys\nchunk = 'x' * (1 << 20)\n"
                  "for _ in range(100):\n    sys.stdout.write(chunk)\n");
  Write("plain.yaml", DagYaml("plain"));
  Write("not-executable.sh", "#!/bin/sh\necho '{}'\n");  // no execute bit: not a Dag file
  auto stats = Processor().ProcessOnce();
  ASSERT_TRUE(stats.has_value()) << stats.error().message();
  EXPECT_EQ(stats->files, 6);
  EXPECT_EQ(stats->submitted, 3);
  EXPECT_TRUE(store_->GetDag("py_one").has_value());
  EXPECT_TRUE(store_->GetDag("py_two").has_value());
  EXPECT_TRUE(store_->GetDag("plain").has_value());
  EXPECT_EQ(store_->GetDag("py_one")->relative_fileloc, "good.py");

  auto errors = ImportErrors();
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors["hang.sh"], "hang.sh: timed out after 2 s and was killed");
  EXPECT_EQ(errors["fail.sh"], "fail.sh: exited with code 3\ncannot import etl_lib");
  EXPECT_TRUE(errors["garbage.sh"].starts_with("garbage.sh: the output is not valid JSON"))
      << errors["garbage.sh"];
  EXPECT_EQ(errors["huge.py"], "huge.py: printed more than 1048576 bytes on stdout and was killed");
}

TEST_F(DagProcessorTest, ReparsesChangedFilesAtMostEveryIntervalAndVersionsTheBundle) {
  WriteExecutable(
      "counted.sh",
      "#!/bin/sh\necho run >> \"$PWD/.runs\"\n"
      "echo '{\"dag_id\":\"counted\",\"tasks\":[{\"task_id\":\"a\",\"command\":[\"true\"]}]}'\n");
  Write("a.yaml", DagYaml("alpha"));
  DagProcessor processor = Processor();
  auto first = processor.ProcessOnce();
  ASSERT_TRUE(first.has_value()) << first.error().message();
  EXPECT_EQ(first->parsed, 2);
  EXPECT_EQ(first->submitted, 2);
  EXPECT_EQ(first->bundle_version.size(), 64u);
  auto stored = dags::ParseSerializedDag(store_->GetDag("alpha")->serialized_json);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->bundle_version, first->bundle_version);

  // Nothing changed: nothing is parsed, run or submitted again.
  clock_.Advance(60);
  auto second = processor.ProcessOnce();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->parsed, 0);
  EXPECT_EQ(second->submitted, 0);
  EXPECT_EQ(second->bundle_version, first->bundle_version);

  // A change within min_file_process_interval waits for it.
  Write("a.yaml", DagYaml("alpha") + "description: changed\n");
  clock_.Advance(10);
  EXPECT_EQ(processor.ProcessOnce()->parsed, 0);
  clock_.Advance(30);
  auto third = processor.ProcessOnce();
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->parsed, 1) << "only the changed file";
  EXPECT_NE(third->bundle_version, first->bundle_version);
  EXPECT_EQ(third->submitted, 2) << "every Dag carries the new bundle version";
  stored = dags::ParseSerializedDag(store_->GetDag("counted")->serialized_json);
  EXPECT_EQ(stored->bundle_version, third->bundle_version);
  EXPECT_EQ(stored->description, "");
  EXPECT_EQ(dags::ParseSerializedDag(store_->GetDag("alpha")->serialized_json)->description,
            "changed");
  auto runs = ReadFile((folder_ / ".runs").string());
  ASSERT_TRUE(runs.has_value());
  EXPECT_EQ(*runs, "run\n") << "the executable ran once";

  // A Dag deleted on the server is submitted again on the next pass.
  ASSERT_TRUE(store_->DeleteDag("alpha").has_value());
  EXPECT_EQ(processor.ProcessOnce()->submitted, 1);
}

TEST_F(DagProcessorTest, ImportErrorsClearWhenTheFileIsFixedOrDeleted) {
  Write("a.yaml", "dag_id: alpha\ntasks: nonsense\n");
  WriteExecutable("b.sh", "#!/bin/sh\nexit 1\n");
  DagProcessor processor = Processor();
  ASSERT_TRUE(processor.ProcessOnce().has_value());
  EXPECT_EQ(ImportErrors().size(), 2u);
  const int64_t first_id = store_->ListImportErrors().value()[0].id;
  clock_.Advance(60);
  ASSERT_TRUE(processor.ProcessOnce().has_value());
  EXPECT_EQ(store_->ListImportErrors().value()[0].id, first_id) << "unchanged: same row";
  Write("a.yaml", DagYaml("alpha"));
  fs::remove(folder_ / "b.sh");
  clock_.Advance(60);
  auto stats = processor.ProcessOnce();
  ASSERT_TRUE(stats.has_value());
  EXPECT_TRUE(stats->errors.empty());
  EXPECT_TRUE(ImportErrors().empty());
  EXPECT_TRUE(store_->GetDag("alpha").has_value());
}

}  // namespace
}  // namespace airlock::dag_processor
