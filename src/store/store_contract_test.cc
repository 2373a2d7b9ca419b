// The Store contract, run against every backend: memory://, SQLite (a file in a temporary
// directory) and PostgreSQL (AIRLOCK_TEST_POSTGRES_URL, which scripts/with-postgres.sh
// sets; each test gets a schema of its own, so tests may run in parallel).
// Without that variable the PostgreSQL cases are skipped with a message, unless
// AIRLOCK_REQUIRE_POSTGRES=1 (as in CI), where they fail.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <latch>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "common/random.h"
#include "store/column_cipher.h"
#include "store/memory_store.h"
#include "store/postgres/postgres_connection.h"
#include "store/sql_store.h"
#include "store/sqlite/sqlite_connection.h"
#include "store/store.h"

namespace airlock::store {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kFernetKey[] = "contract-suite-key-0123456789abcdefghijklmnop";
constexpr char kOtherFernetKey[] = "another-contract-key-0123456789abcdefghijklm";
constexpr int64_t kNow = 1'750'000'000;

enum class Backend { kMemory, kSqlite, kPostgres };

std::string BackendName(const testing::TestParamInfo<Backend>& info) {
  switch (info.param) {
    case Backend::kMemory:
      return "Memory";
    case Backend::kSqlite:
      return "Sqlite";
    case Backend::kPostgres:
      return "Postgres";
  }
  return "Unknown";
}

void PrintTo(Backend backend, std::ostream* os) {
  *os << BackendName(testing::TestParamInfo<Backend>(backend, 0));
}

std::string NewId() {
  auto id = Uuid4();
  EXPECT_TRUE(id.has_value());
  return id.value_or("");
}

class StoreContractTest : public testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    switch (GetParam()) {
      case Backend::kMemory:
        url_ = "memory://";
        break;
      case Backend::kSqlite: {
        std::string templ = (std::filesystem::temp_directory_path() / "airlock-store-XXXXXX");
        ASSERT_NE(mkdtemp(templ.data()), nullptr);
        dir_ = templ;
        url_ = "sqlite://" + dir_ + "/airlock.db";
        break;
      }
      case Backend::kPostgres: {
        const char* base = std::getenv("AIRLOCK_TEST_POSTGRES_URL");
        if (base == nullptr || *base == '\0') {
          const char* require = std::getenv("AIRLOCK_REQUIRE_POSTGRES");
          if (require != nullptr && std::string_view(require) == "1") {
            FAIL() << "AIRLOCK_REQUIRE_POSTGRES=1 but AIRLOCK_TEST_POSTGRES_URL is not set: run "
                      "the tests under scripts/with-postgres.sh";
          }
          GTEST_SKIP() << "PostgreSQL contract tests skipped: AIRLOCK_TEST_POSTGRES_URL is not "
                          "set (run under scripts/with-postgres.sh)";
        }
        auto admin = PostgresConnection::Connect(base);
        ASSERT_TRUE(admin.has_value()) << admin.error().ToString();
        auto suffix = Uuid4Hex();
        ASSERT_TRUE(suffix.has_value());
        schema_ = "contract_" + *suffix;
        ASSERT_TRUE((*admin)->ExecuteScript("CREATE SCHEMA " + schema_).has_value());
        admin_ = std::move(*admin);
        const std::string separator =
            std::string_view(base).find('?') == std::string::npos ? "?" : "&";
        url_ = std::string(base) + separator + "options=-csearch_path%3D" + schema_;
        break;
      }
    }
    store_ = Open();
    ASSERT_NE(store_, nullptr);
    if (MigrateInSetUp()) {
      auto version = store_->Migrate();
      ASSERT_TRUE(version.has_value()) << version.error().ToString();
    }
  }

  void TearDown() override {
    store_.reset();
    if (admin_) {
      EXPECT_TRUE(admin_->ExecuteScript("DROP SCHEMA " + schema_ + " CASCADE").has_value());
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  virtual bool MigrateInSetUp() const { return true; }

  bool persistent() const { return GetParam() != Backend::kMemory; }

  // Another Store on the same database (a second process, as far as the database can
  // tell). Only for persistent backends.
  std::unique_ptr<Store> Open(std::string fernet_key = kFernetKey) {
    auto store =
        OpenStore(url_, StoreOptions{.fernet_key = std::move(fernet_key), .max_connections = 4});
    EXPECT_TRUE(store.has_value()) << store.error().ToString();
    return store ? std::move(*store) : nullptr;
  }

  // The store under test, and on the persistent backends a second Store on the same
  // database (`other` keeps it), as two processes would have. Empty if that fails to open.
  std::vector<Store*> StoresOnOneDatabase(std::unique_ptr<Store>& other) {
    if (!persistent()) return {store_.get()};
    other = Open();
    if (other == nullptr) return {};
    return {store_.get(), other.get()};
  }

  // A new connection to the database under test, past the store. Only for persistent
  // backends. `audit_file`: to SQLite's audit file instead (store.h: kAuditFileSuffix).
  Result<std::unique_ptr<SqlConnection>> Connect(bool audit_file = false) const {
    if (GetParam() == Backend::kSqlite) {
      std::string path = dir_ + "/airlock.db";
      if (audit_file) path += kAuditFileSuffix;
      auto c = SqliteConnection::Open(path, std::chrono::seconds(5));
      if (!c) return std::unexpected(c.error());
      return std::unique_ptr<SqlConnection>(std::move(*c));
    }
    if (GetParam() == Backend::kPostgres) {
      auto c = PostgresConnection::Connect(url_);
      if (!c) return std::unexpected(c.error());
      return std::unique_ptr<SqlConnection>(std::move(*c));
    }
    return std::unexpected(Error(ErrorCode::kInvalidArgument, "no raw access to this backend"));
  }

  // Runs one statement on the database directly, bypassing the store.
  SqlResult Raw(std::string_view sql, std::initializer_list<SqlParam> params) {
    auto connection = Connect();
    if (!connection) {
      ADD_FAILURE() << connection.error().ToString();
      return {};
    }
    auto result =
        (*connection)->Execute(sql, std::span<const SqlParam>(params.begin(), params.size()));
    EXPECT_TRUE(result.has_value()) << result.error().ToString();
    return result.value_or(SqlResult{});
  }

  void ForceSchemaVersion(int version) {
    if (GetParam() == Backend::kMemory) {
      dynamic_cast<MemoryStore&>(*store_).SetSchemaVersionForTest(version);
    } else {
      Raw("INSERT INTO schema_version (version, applied_at) VALUES ($1, 0)", {int64_t{version}});
    }
  }

  void CreateRun(std::string_view dag_id = "dag", std::string_view run_id = "run") {
    auto created =
        store_->CreateDagRun(DagRun{.dag_id = std::string(dag_id), .run_id = std::string(run_id)});
    ASSERT_TRUE(created.has_value()) << created.error().ToString();
  }

  // `count` running task instances of dag/run ("t0", "t1", …), each deferred on a date
  // trigger; the triggers' ids, oldest first, are appended to `ids`.
  void DeferRunningTasks(int count, std::vector<int64_t>& ids);

  // A task instance of dag/run in `state`, created in the store.
  TaskInstance CreateTi(TaskState state, std::string task_id = "task") {
    TaskInstance ti{.id = NewId(),
                    .dag_id = "dag",
                    .run_id = "run",
                    .task_id = std::move(task_id),
                    .state = state};
    if (state == TaskState::kRunning) {
      ti.hostname = "worker-1";
      ti.pid = 4242;
      ti.start_date = kNow;
    }
    auto created = store_->CreateTaskInstance(ti);
    EXPECT_TRUE(created.has_value()) << created.error().ToString();
    return ti;
  }

  std::string url_;
  std::string dir_;
  std::string schema_;
  std::unique_ptr<SqlConnection> admin_;
  std::unique_ptr<Store> store_;
};

#define ASSERT_OK(expr)                                                    \
  do {                                                                     \
    auto _r = (expr);                                                      \
    ASSERT_TRUE(_r.has_value()) << #expr << ": " << _r.error().ToString(); \
  } while (0)

#define EXPECT_OK(expr)                                                    \
  do {                                                                     \
    auto _r = (expr);                                                      \
    EXPECT_TRUE(_r.has_value()) << #expr << ": " << _r.error().ToString(); \
  } while (0)

#define EXPECT_CODE(expr, expected_code)                                    \
  do {                                                                      \
    auto _r = (expr);                                                       \
    ASSERT_FALSE(_r.has_value()) << #expr << " succeeded";                  \
    EXPECT_EQ(_r.error().code(), (expected_code)) << _r.error().ToString(); \
  } while (0)

// --- Schema ---------------------------------------------------------------------------

TEST_P(StoreContractTest, MigrationsAreIdempotent) {
  EXPECT_EQ(store_->SchemaVersion().value_or(-1), kSchemaVersion);
  ASSERT_OK(store_->SetVariable({.key = "kept", .value = "1"}));
  auto again = store_->Migrate();
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  EXPECT_EQ(*again, kSchemaVersion);
  EXPECT_EQ(store_->GetVariable("kept").value().value, "1");
  ASSERT_OK(RequireCurrentSchema(*store_));
  if (persistent()) {
    auto other = Open();
    ASSERT_OK(other->Migrate());
    EXPECT_EQ(other->SchemaVersion().value_or(-1), kSchemaVersion);
    EXPECT_EQ(other->GetVariable("kept").value().value, "1");
  }
}

TEST_P(StoreContractTest, RefusesDatabaseNewerThanBinary) {
  const int newer = kSchemaVersion + 1;
  ForceSchemaVersion(newer);
  EXPECT_EQ(store_->SchemaVersion().value_or(-1), newer);
  auto migrated = store_->Migrate();
  ASSERT_FALSE(migrated.has_value());
  EXPECT_EQ(migrated.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(migrated.error().message(), HasSubstr("version " + std::to_string(newer)));
  EXPECT_THAT(migrated.error().message(),
              HasSubstr("(version " + std::to_string(kSchemaVersion) + ")"));
  EXPECT_EQ(store_->SchemaVersion().value_or(-1), newer);  // nothing was changed
  auto required = RequireCurrentSchema(*store_);
  ASSERT_FALSE(required.has_value());
  EXPECT_THAT(required.error().message(), HasSubstr("upgrade airlock"));
  if (persistent()) {
    EXPECT_CODE(Open()->Migrate(), ErrorCode::kFailedPrecondition);
  }
}

class FreshStoreTest : public StoreContractTest {
 protected:
  bool MigrateInSetUp() const override { return false; }
};

TEST_P(FreshStoreTest, EmptyDatabaseIsAtVersionZeroAndNeedsMigrating) {
  EXPECT_EQ(store_->SchemaVersion().value_or(-1), 0);
  auto required = RequireCurrentSchema(*store_);
  ASSERT_FALSE(required.has_value());
  EXPECT_EQ(required.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(required.error().message(), HasSubstr("airlock db migrate"));
  EXPECT_EQ(store_->Migrate().value_or(-1), kSchemaVersion);
  ASSERT_OK(RequireCurrentSchema(*store_));
}

TEST_P(FreshStoreTest, ConcurrentMigrationsFromTwoStoresBothSucceed) {
  if (!persistent()) GTEST_SKIP() << "one memory store cannot be opened twice";
  auto other = Open();
  std::latch start(2);
  Result<int> a = 0, b = 0;
  std::thread ta([&] {
    start.arrive_and_wait();
    a = store_->Migrate();
  });
  std::thread tb([&] {
    start.arrive_and_wait();
    b = other->Migrate();
  });
  ta.join();
  tb.join();
  ASSERT_TRUE(a.has_value()) << a.error().ToString();
  ASSERT_TRUE(b.has_value()) << b.error().ToString();
  EXPECT_EQ(store_->SchemaVersion().value_or(-1), kSchemaVersion);
}

// --- Dags and Dag runs ----------------------------------------------------------------

TEST_P(StoreContractTest, DagCrud) {
  Dag dag{.dag_id = "etl",
          .bundle_name = "dags-folder",
          .relative_fileloc = "etl/daily.yaml",
          .serialized_json = R"({"tasks":["a","b"]})",
          .updated_at = kNow};
  ASSERT_OK(store_->SetDag(dag));
  ASSERT_OK(store_->SetDag({.dag_id = "alpha", .bundle_name = "b"}));
  auto got = store_->GetDag("etl");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->bundle_name, "dags-folder");
  EXPECT_EQ(got->relative_fileloc, "etl/daily.yaml");
  EXPECT_FALSE(got->is_paused);
  EXPECT_EQ(got->serialized_json, R"({"tasks":["a","b"]})");
  EXPECT_EQ(got->updated_at, kNow);

  dag.is_paused = true;
  dag.updated_at = kNow + 1;
  ASSERT_OK(store_->SetDag(dag));  // replaces
  EXPECT_TRUE(store_->GetDag("etl")->is_paused);
  EXPECT_EQ(store_->GetDag("etl")->updated_at, kNow + 1);

  auto all = store_->ListDags();
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].dag_id, "alpha");
  EXPECT_EQ((*all)[1].dag_id, "etl");

  ASSERT_OK(store_->DeleteDag("etl"));
  EXPECT_CODE(store_->GetDag("etl"), ErrorCode::kNotFound);
  EXPECT_CODE(store_->DeleteDag("etl"), ErrorCode::kNotFound);
}

TEST_P(StoreContractTest, DagRunCrud) {
  DagRun run{.dag_id = "etl",
             .run_id = "manual__2025-01-01",
             .logical_date = kNow,
             .conf_json = R"({"x":1})"};
  ASSERT_OK(store_->CreateDagRun(run));
  EXPECT_CODE(store_->CreateDagRun(run), ErrorCode::kAlreadyExists);
  ASSERT_OK(store_->CreateDagRun({.dag_id = "etl", .run_id = "a-first"}));
  ASSERT_OK(store_->CreateDagRun({.dag_id = "other", .run_id = "manual__2025-01-01"}));

  auto got = store_->GetDagRun("etl", "manual__2025-01-01");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->state, DagRunState::kQueued);
  EXPECT_EQ(got->logical_date, kNow);
  EXPECT_EQ(got->conf_json, R"({"x":1})");
  EXPECT_FALSE(got->start_date.has_value());
  EXPECT_FALSE(got->end_date.has_value());
  EXPECT_CODE(store_->GetDagRun("etl", "missing"), ErrorCode::kNotFound);

  auto runs = store_->ListDagRuns("etl");
  ASSERT_TRUE(runs.has_value());
  ASSERT_EQ(runs->size(), 2u);
  EXPECT_EQ((*runs)[0].run_id, "a-first");
  EXPECT_EQ((*runs)[1].run_id, "manual__2025-01-01");

  ASSERT_OK(store_->DeleteDagRun("etl", "a-first"));
  EXPECT_CODE(store_->DeleteDagRun("etl", "a-first"), ErrorCode::kNotFound);
  EXPECT_EQ(store_->ListDagRuns("etl")->size(), 1u);
}

TEST_P(StoreContractTest, DagRunTransitionsAreConditional) {
  CreateRun();
  auto running =
      store_->TransitionDagRun("dag", "run", {DagRunState::kQueued}, DagRunState::kRunning, kNow);
  ASSERT_TRUE(running.has_value()) << running.error().ToString();
  EXPECT_EQ(running->state, DagRunState::kRunning);
  EXPECT_EQ(running->start_date, kNow);

  auto again =
      store_->TransitionDagRun("dag", "run", {DagRunState::kQueued}, DagRunState::kRunning, kNow);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(again.error().message(), HasSubstr("is running"));

  auto done = store_->TransitionDagRun("dag", "run", {DagRunState::kQueued, DagRunState::kRunning},
                                       DagRunState::kSuccess, kNow + 5);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->end_date, kNow + 5);
  EXPECT_EQ(store_->GetDagRun("dag", "run")->state, DagRunState::kSuccess);
  EXPECT_CODE(
      store_->TransitionDagRun("dag", "nope", {DagRunState::kQueued}, DagRunState::kRunning, kNow),
      ErrorCode::kNotFound);
}

TEST_P(StoreContractTest, DeletingDagRunDeletesItsTaskInstancesAndXComs) {
  CreateRun();
  CreateRun("dag", "kept");
  TaskInstance ti = CreateTi(TaskState::kQueued);
  XComKey key{.dag_id = "dag", .run_id = "run", .task_id = "task", .key = "return_value"};
  XComKey kept_key = key;
  kept_key.run_id = "kept";
  ASSERT_OK(store_->SetXCom(key, "1"));
  ASSERT_OK(store_->SetXCom(kept_key, "2"));
  ASSERT_OK(store_->DeleteDagRun("dag", "run"));
  EXPECT_CODE(store_->GetTaskInstance(ti.id), ErrorCode::kNotFound);
  EXPECT_CODE(store_->GetXCom(key), ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetXCom(kept_key).value_or(""), "2");
}

// --- Task instances -------------------------------------------------------------------

TEST_P(StoreContractTest, TaskInstanceRoundTripsEveryField) {
  CreateRun();
  TaskInstance ti{.id = NewId(),
                  .dag_id = "dag",
                  .run_id = "run",
                  .task_id = "extract",
                  .try_number = 3,
                  .map_index = 7,
                  .state = TaskState::kUpForRetry,
                  .hostname = "host.example",
                  .pid = 123456,
                  .queued_at = kNow - 10,
                  .start_date = kNow - 5,
                  .end_date = kNow,
                  .last_heartbeat_at = kNow - 1};
  ASSERT_OK(store_->CreateTaskInstance(ti));
  auto got = store_->GetTaskInstance(ti.id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, ti.id);
  EXPECT_EQ(got->dag_id, "dag");
  EXPECT_EQ(got->run_id, "run");
  EXPECT_EQ(got->task_id, "extract");
  EXPECT_EQ(got->try_number, 3);
  EXPECT_EQ(got->map_index, 7);
  EXPECT_EQ(got->state, TaskState::kUpForRetry);
  EXPECT_EQ(got->hostname, "host.example");
  EXPECT_EQ(got->pid, 123456);
  EXPECT_EQ(got->queued_at, kNow - 10);
  EXPECT_EQ(got->start_date, kNow - 5);
  EXPECT_EQ(got->end_date, kNow);
  EXPECT_EQ(got->last_heartbeat_at, kNow - 1);

  TaskInstance bare = CreateTi(TaskState::kScheduled, "load");
  got = store_->GetTaskInstance(bare.id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->map_index, -1);
  EXPECT_FALSE(got->queued_at.has_value());
  EXPECT_FALSE(got->start_date.has_value());
  EXPECT_FALSE(got->end_date.has_value());
  EXPECT_FALSE(got->last_heartbeat_at.has_value());
  EXPECT_CODE(store_->GetTaskInstance(NewId()), ErrorCode::kNotFound);
}

TEST_P(StoreContractTest, CreateTaskInstancesIsAllOrNothing) {
  CreateRun();
  TaskInstance a{.id = NewId(), .dag_id = "dag", .run_id = "run", .task_id = "a"};
  TaskInstance b{.id = NewId(), .dag_id = "dag", .run_id = "run", .task_id = "b"};
  TaskInstance a_again{.id = NewId(), .dag_id = "dag", .run_id = "run", .task_id = "a"};
  EXPECT_CODE(store_->CreateTaskInstances({a, b, a_again}), ErrorCode::kAlreadyExists);
  EXPECT_TRUE(store_->ListTaskInstances("dag", "run")->empty());

  ASSERT_OK(store_->CreateTaskInstances({b, a}));
  auto listed = store_->ListTaskInstances("dag", "run");
  ASSERT_TRUE(listed.has_value());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].task_id, "a");
  EXPECT_EQ((*listed)[1].task_id, "b");

  EXPECT_CODE(store_->CreateTaskInstance(a), ErrorCode::kAlreadyExists);        // same id
  EXPECT_CODE(store_->CreateTaskInstance(a_again), ErrorCode::kAlreadyExists);  // same key
  a_again.map_index = 0;  // a mapped instance of the same task is another row
  ASSERT_OK(store_->CreateTaskInstance(a_again));
  EXPECT_TRUE(store_->CreateTaskInstances({}).has_value());
}

TEST_P(StoreContractTest, CreateTaskInstanceChecksIdAndRun) {
  CreateRun();
  EXPECT_CODE(store_->CreateTaskInstance(
                  {.id = "not-a-uuid", .dag_id = "dag", .run_id = "run", .task_id = "t"}),
              ErrorCode::kInvalidArgument);
  std::string upper = NewId();
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_CODE(
      store_->CreateTaskInstance({.id = upper, .dag_id = "dag", .run_id = "run", .task_id = "t"}),
      ErrorCode::kInvalidArgument);
  EXPECT_CODE(store_->CreateTaskInstance(
                  {.id = NewId(), .dag_id = "dag", .run_id = "no-such-run", .task_id = "t"}),
              ErrorCode::kFailedPrecondition);
}

TEST_P(StoreContractTest, StartTaskInstanceMovesQueuedToRunning) {
  CreateRun();
  TaskInstance ti = CreateTi(TaskState::kQueued);
  auto started = store_->StartTaskInstance(ti.id, "worker-7", 99, kNow);
  ASSERT_TRUE(started.has_value()) << started.error().ToString();
  EXPECT_EQ(started->state, TaskState::kRunning);
  EXPECT_EQ(started->hostname, "worker-7");
  EXPECT_EQ(started->pid, 99);
  EXPECT_EQ(started->start_date, kNow);
  EXPECT_EQ(started->last_heartbeat_at, kNow);
  EXPECT_EQ(store_->GetTaskInstance(ti.id)->state, TaskState::kRunning);

  auto again = store_->StartTaskInstance(ti.id, "worker-8", 100, kNow + 1);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(again.error().message(), HasSubstr("is running, not queued"));
  EXPECT_EQ(store_->GetTaskInstance(ti.id)->hostname, "worker-7");  // the loser wrote nothing

  TaskInstance scheduled = CreateTi(TaskState::kScheduled, "other");
  EXPECT_CODE(store_->StartTaskInstance(scheduled.id, "h", 1, kNow),
              ErrorCode::kFailedPrecondition);
  EXPECT_CODE(store_->StartTaskInstance(NewId(), "h", 1, kNow), ErrorCode::kNotFound);
}

TEST_P(StoreContractTest, FinishTaskInstanceNeedsRunning) {
  CreateRun();
  TaskInstance ti = CreateTi(TaskState::kRunning);
  EXPECT_CODE(store_->FinishTaskInstance(ti.id, TaskState::kQueued, kNow),
              ErrorCode::kInvalidArgument);
  EXPECT_CODE(store_->FinishTaskInstance(ti.id, TaskState::kRunning, kNow),
              ErrorCode::kInvalidArgument);
  auto done = store_->FinishTaskInstance(ti.id, TaskState::kSuccess, kNow + 60);
  ASSERT_TRUE(done.has_value()) << done.error().ToString();
  EXPECT_EQ(done->state, TaskState::kSuccess);
  EXPECT_EQ(done->end_date, kNow + 60);
  auto twice = store_->FinishTaskInstance(ti.id, TaskState::kFailed, kNow + 61);
  ASSERT_FALSE(twice.has_value());
  EXPECT_EQ(twice.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(twice.error().message(), HasSubstr("is success"));
  EXPECT_EQ(store_->GetTaskInstance(ti.id)->state, TaskState::kSuccess);

  TaskInstance deferred = CreateTi(TaskState::kRunning, "sensor");
  auto waiting = store_->FinishTaskInstance(deferred.id, TaskState::kDeferred, kNow);
  ASSERT_TRUE(waiting.has_value());
  EXPECT_EQ(waiting->state, TaskState::kDeferred);
  EXPECT_FALSE(waiting->end_date.has_value());
  EXPECT_CODE(store_->FinishTaskInstance(NewId(), TaskState::kSuccess, kNow), ErrorCode::kNotFound);
}

TEST_P(StoreContractTest, TransitionTaskInstanceIsConditional) {
  CreateRun();
  TaskInstance ti = CreateTi(TaskState::kScheduled);
  auto queued =
      store_->TransitionTaskInstance(ti.id, TaskState::kScheduled, TaskState::kQueued, kNow);
  ASSERT_TRUE(queued.has_value()) << queued.error().ToString();
  EXPECT_EQ(queued->state, TaskState::kQueued);
  EXPECT_EQ(queued->queued_at, kNow);

  auto lost =
      store_->TransitionTaskInstance(ti.id, TaskState::kScheduled, TaskState::kQueued, kNow + 1);
  ASSERT_FALSE(lost.has_value());
  EXPECT_EQ(lost.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(lost.error().message(), HasSubstr("is queued, not scheduled"));
  EXPECT_EQ(store_->GetTaskInstance(ti.id)->queued_at, kNow);

  auto failed = store_->TransitionTaskInstance(
      ti.id, {TaskState::kScheduled, TaskState::kQueued, TaskState::kRunning}, TaskState::kFailed,
      kNow + 2);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->state, TaskState::kFailed);
  EXPECT_EQ(failed->end_date, kNow + 2);

  EXPECT_CODE(store_->TransitionTaskInstance(ti.id, TaskState::kFailed, TaskState::kRunning, kNow),
              ErrorCode::kInvalidArgument);
  EXPECT_CODE(
      store_->TransitionTaskInstance(ti.id, std::vector<TaskState>{}, TaskState::kQueued, kNow),
      ErrorCode::kInvalidArgument);
  EXPECT_CODE(
      store_->TransitionTaskInstance(NewId(), TaskState::kScheduled, TaskState::kQueued, kNow),
      ErrorCode::kNotFound);
}

TEST_P(StoreContractTest, RetryTaskInstanceStartsTheNextTryFromScratch) {
  CreateRun();
  TaskInstance ti = CreateTi(TaskState::kRunning);
  ASSERT_OK(store_->FinishTaskInstance(ti.id, TaskState::kUpForRetry, kNow + 5));
  const std::string next_id = NewId();
  auto retried = store_->RetryTaskInstance(ti.id, next_id);
  ASSERT_TRUE(retried.has_value()) << retried.error().ToString();
  EXPECT_EQ(retried->id, next_id);
  EXPECT_EQ(retried->state, TaskState::kScheduled);
  EXPECT_EQ(retried->try_number, 2);
  EXPECT_EQ(retried->hostname, "");
  EXPECT_EQ(retried->pid, 0);
  EXPECT_FALSE(retried->queued_at);
  EXPECT_FALSE(retried->start_date);
  EXPECT_FALSE(retried->end_date);
  EXPECT_FALSE(retried->last_heartbeat_at);
  auto stored = store_->GetTaskInstance(next_id);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->try_number, 2);
  EXPECT_EQ(stored->state, TaskState::kScheduled);
  EXPECT_EQ(stored->task_id, ti.task_id);
  // The failed try's id names nothing any more: what was issued for it is dead.
  EXPECT_CODE(store_->GetTaskInstance(ti.id), ErrorCode::kNotFound);
  EXPECT_CODE(store_->RetryTaskInstance(ti.id, NewId()), ErrorCode::kNotFound);

  // Conditional: only from up_for_retry, so a second scheduler cannot bump it twice.
  auto again = store_->RetryTaskInstance(next_id, NewId());
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(again.error().message(), HasSubstr("is scheduled, not up_for_retry"));
  EXPECT_CODE(store_->RetryTaskInstance(NewId(), NewId()), ErrorCode::kNotFound);
}

TEST_P(StoreContractTest, RetryToATakenIdChangesNothing) {
  CreateRun();
  TaskInstance ti = CreateTi(TaskState::kRunning);
  TaskInstance other = CreateTi(TaskState::kScheduled, "other");
  ASSERT_OK(store_->FinishTaskInstance(ti.id, TaskState::kUpForRetry, kNow + 5));
  EXPECT_CODE(store_->RetryTaskInstance(ti.id, other.id), ErrorCode::kAlreadyExists);
  auto stored = store_->GetTaskInstance(ti.id);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->state, TaskState::kUpForRetry);
  EXPECT_EQ(stored->try_number, 1);
  EXPECT_EQ(store_->GetTaskInstance(other.id)->task_id, "other");
}

TEST_P(StoreContractTest, ListDagRunsInStatesSpansDags) {
  ASSERT_OK(store_->CreateDagRun(DagRun{.dag_id = "b", .run_id = "r1"}));
  ASSERT_OK(store_->CreateDagRun(DagRun{.dag_id = "a", .run_id = "r2"}));
  ASSERT_OK(store_->CreateDagRun(DagRun{.dag_id = "a", .run_id = "r1"}));
  ASSERT_OK(
      store_->CreateDagRun(DagRun{.dag_id = "a", .run_id = "r3", .state = DagRunState::kSuccess}));
  ASSERT_OK(
      store_->TransitionDagRun("a", "r2", {DagRunState::kQueued}, DagRunState::kRunning, kNow));
  auto runs = store_->ListDagRunsInStates({DagRunState::kQueued, DagRunState::kRunning});
  ASSERT_TRUE(runs.has_value()) << runs.error().ToString();
  ASSERT_EQ(runs->size(), 3u);
  EXPECT_EQ((*runs)[0].dag_id + "/" + (*runs)[0].run_id, "a/r1");
  EXPECT_EQ((*runs)[1].dag_id + "/" + (*runs)[1].run_id, "a/r2");
  EXPECT_EQ((*runs)[1].state, DagRunState::kRunning);
  EXPECT_EQ((*runs)[2].dag_id + "/" + (*runs)[2].run_id, "b/r1");
  auto done = store_->ListDagRunsInStates({DagRunState::kSuccess});
  ASSERT_TRUE(done.has_value());
  ASSERT_EQ(done->size(), 1u);
  EXPECT_EQ((*done)[0].run_id, "r3");
  EXPECT_TRUE(store_->ListDagRunsInStates({})->empty());
}

// Runs `attempt(i, store)` for i in [0, threads) at once (released together by a latch),
// alternating between the given stores, and returns how many succeeded.
template <typename Attempt>
int RaceOnce(int threads, const std::vector<Store*>& stores, Attempt attempt,
             std::vector<ErrorCode>* loser_codes) {
  std::latch start(threads);
  std::atomic<int> wins = 0;
  std::mutex mu;
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      Store& store = *stores[static_cast<size_t>(i) % stores.size()];
      start.arrive_and_wait();
      auto result = attempt(i, store);
      if (result.has_value()) {
        ++wins;
      } else {
        std::lock_guard lock(mu);
        loser_codes->push_back(result.error().code());
      }
    });
  }
  for (auto& t : pool) t.join();
  return wins.load();
}

void ExpectExactlyOneWinnerPerRound(Store& store, const std::vector<Store*>& stores) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 10;
  for (int round = 0; round < kRounds; ++round) {
    TaskInstance ti{.id = NewId(),
                    .dag_id = "dag",
                    .run_id = "run",
                    .task_id = "t" + std::to_string(round),
                    .state = TaskState::kQueued};
    ASSERT_OK(store.CreateTaskInstance(ti));
    std::vector<ErrorCode> losers;
    const int wins = RaceOnce(
        kThreads, stores,
        [&](int i, Store& s) {
          return s.StartTaskInstance(ti.id, "host-" + std::to_string(i), 1000 + i, kNow);
        },
        &losers);
    EXPECT_EQ(wins, 1) << "round " << round;
    EXPECT_EQ(losers.size(), static_cast<size_t>(kThreads - 1));
    for (ErrorCode code : losers) EXPECT_EQ(code, ErrorCode::kFailedPrecondition);
    // The row is the winner's, whole: hostname and pid come from the same writer.
    auto row = store.GetTaskInstance(ti.id);
    ASSERT_TRUE(row.has_value());
    EXPECT_EQ(row->hostname, "host-" + std::to_string(row->pid - 1000));

    // Then two finishers with different outcomes: one wins, the row says which.
    std::vector<ErrorCode> finish_losers;
    const int finish_wins = RaceOnce(
        kThreads, stores,
        [&](int i, Store& s) {
          return s.FinishTaskInstance(ti.id, i % 2 ? TaskState::kFailed : TaskState::kSuccess,
                                      kNow + i);
        },
        &finish_losers);
    EXPECT_EQ(finish_wins, 1) << "round " << round;
    for (ErrorCode code : finish_losers) EXPECT_EQ(code, ErrorCode::kFailedPrecondition);
    row = store.GetTaskInstance(ti.id);
    ASSERT_TRUE(row.has_value());
    const int winner = static_cast<int>(*row->end_date - kNow);
    EXPECT_EQ(row->state, winner % 2 ? TaskState::kFailed : TaskState::kSuccess);
  }
}

TEST_P(StoreContractTest, ConcurrentWritersOnOneStoreExactlyOneWins) {
  CreateRun();
  ExpectExactlyOneWinnerPerRound(*store_, {store_.get()});
}

TEST_P(StoreContractTest, ConcurrentWritersOnTwoStoresExactlyOneWins) {
  if (!persistent()) GTEST_SKIP() << "one memory store cannot be opened twice";
  CreateRun();
  auto other = Open();
  ASSERT_NE(other, nullptr);
  ExpectExactlyOneWinnerPerRound(*store_, {store_.get(), other.get()});
}

// Two schedulers retrying the same task instance: exactly one starts the next try.
void ExpectExactlyOneRetryPerRound(Store& store, const std::vector<Store*>& stores) {
  for (int round = 0; round < 5; ++round) {
    TaskInstance ti{.id = NewId(),
                    .dag_id = "dag",
                    .run_id = "run",
                    .task_id = "retry" + std::to_string(round),
                    .state = TaskState::kUpForRetry};
    ASSERT_OK(store.CreateTaskInstance(ti));
    std::vector<ErrorCode> losers;
    std::vector<std::string> next_ids;
    for (int i = 0; i < 8; ++i) next_ids.push_back(NewId());
    const int wins = RaceOnce(
        8, stores,
        [&](int i, Store& s) {
          return s.RetryTaskInstance(ti.id, next_ids[static_cast<size_t>(i)]);
        },
        &losers);
    EXPECT_EQ(wins, 1) << "round " << round;
    // The winner renamed it: the losers find no task instance of the old id.
    for (ErrorCode code : losers) EXPECT_EQ(code, ErrorCode::kNotFound);
    int found = 0;
    for (const std::string& id : next_ids) {
      if (auto next = store.GetTaskInstance(id)) {
        ++found;
        EXPECT_EQ(next->try_number, 2);
      }
    }
    EXPECT_EQ(found, 1) << "round " << round;
  }
}

TEST_P(StoreContractTest, ConcurrentRetriesOnTwoStoresBumpTryNumberOnce) {
  CreateRun();
  std::unique_ptr<Store> other;
  std::vector<Store*> stores = StoresOnOneDatabase(other);
  ASSERT_FALSE(stores.empty());
  ExpectExactlyOneRetryPerRound(*store_, stores);
}

// --- Scheduler limits -----------------------------------------------------------------

TEST_P(StoreContractTest, QueueTaskInstancesQueuesInOrderWhileUnderParallelism) {
  CreateRun();
  CreateTi(TaskState::kRunning, "running");
  CreateTi(TaskState::kQueued, "queued");
  CreateTi(TaskState::kSuccess, "done");  // not in flight
  TaskInstance retry = CreateTi(TaskState::kUpForRetry, "retry");
  std::vector<TaskInstance> scheduled;
  for (int i = 0; i < 4; ++i)
    scheduled.push_back(CreateTi(TaskState::kScheduled, "s" + std::to_string(i)));
  // Not scheduled, unknown, or never storable: skipped, not an error.
  const std::vector<std::string> ids = {
      retry.id,        scheduled[2].id, NewId(),        std::string("\xff"),
      scheduled[0].id, scheduled[3].id, scheduled[1].id};
  auto queued = store_->QueueTaskInstances(ids, 4, kNow + 5);
  ASSERT_OK(queued);
  ASSERT_EQ(queued->size(), 2u);  // two were in flight already
  EXPECT_EQ((*queued)[0].id, scheduled[2].id);
  EXPECT_EQ((*queued)[1].id, scheduled[0].id);
  for (const TaskInstance& ti : *queued) {
    EXPECT_EQ(ti.state, TaskState::kQueued);
    EXPECT_EQ(ti.queued_at, kNow + 5);
    EXPECT_EQ(store_->GetTaskInstance(ti.id)->state, TaskState::kQueued);
  }
  EXPECT_EQ(store_->GetTaskInstance(scheduled[1].id)->state, TaskState::kScheduled);
  EXPECT_EQ(store_->GetTaskInstance(scheduled[3].id)->state, TaskState::kScheduled);
  EXPECT_EQ(store_->GetTaskInstance(retry.id)->state, TaskState::kUpForRetry);
  // Full: nothing more, until one ends.
  EXPECT_TRUE(store_->QueueTaskInstances(ids, 4, kNow)->empty());
  ASSERT_OK(store_->TransitionTaskInstance((*queued)[0].id, TaskState::kQueued, TaskState::kFailed,
                                           kNow));
  auto one_more = store_->QueueTaskInstances(ids, 4, kNow);
  ASSERT_OK(one_more);
  ASSERT_EQ(one_more->size(), 1u);
  EXPECT_EQ((*one_more)[0].id, scheduled[3].id);
  EXPECT_TRUE(store_->QueueTaskInstances(ids, 0, kNow)->empty());
  EXPECT_TRUE(store_->QueueTaskInstances({}, 10, kNow)->empty());
  EXPECT_CODE(store_->QueueTaskInstances(ids, -1, kNow), ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->GetTaskInstance(scheduled[1].id)->state, TaskState::kScheduled);
}

// How many task instances of the database are queued or running.
int InFlight(Store& store, const std::vector<std::string>& run_ids) {
  int in_flight = 0;
  for (const std::string& run_id : run_ids) {
    auto tis = store.ListTaskInstances("dag", run_id);
    EXPECT_TRUE(tis.has_value());
    for (const TaskInstance& ti : tis.value_or(std::vector<TaskInstance>{})) {
      in_flight += ti.state == TaskState::kQueued || ti.state == TaskState::kRunning;
    }
  }
  return in_flight;
}

// Several schedulers (threads, and on the SQL stores two Store objects as two processes
// would) queue from the same candidates at once, each in its own order: together they
// queue exactly up to the limit, never past it, and no task instance twice.
TEST_P(StoreContractTest, ConcurrentQueueingOnTwoStoresNeverExceedsParallelism) {
  std::unique_ptr<Store> other;
  std::vector<Store*> stores = StoresOnOneDatabase(other);
  ASSERT_FALSE(stores.empty());
  constexpr int kParallelism = 5;
  constexpr int kCandidates = 40;
  constexpr int kThreads = 6;
  for (int round = 0; round < 20; ++round) {
    const std::string run_id = "run" + std::to_string(round);
    CreateRun();
    CreateRun("dag", run_id);
    CreateTi(TaskState::kRunning, "running");  // of "run": one slot is taken throughout
    std::vector<std::string> ids;
    for (int i = 0; i < kCandidates; ++i) {
      TaskInstance ti{.id = NewId(),
                      .dag_id = "dag",
                      .run_id = run_id,
                      .task_id = "t" + std::to_string(i),
                      .state = TaskState::kScheduled};
      ASSERT_OK(store_->CreateTaskInstance(ti));
      ids.push_back(ti.id);
    }
    std::vector<std::vector<TaskInstance>> queued(kThreads);
    std::latch start(kThreads);
    std::vector<std::thread> pool;
    for (int i = 0; i < kThreads; ++i) {
      pool.emplace_back([&, i] {
        Store& s = *stores[static_cast<size_t>(i) % stores.size()];
        std::vector<std::string> mine = ids;
        std::rotate(mine.begin(), mine.begin() + i * kCandidates / kThreads, mine.end());
        start.arrive_and_wait();
        auto got = s.QueueTaskInstances(mine, kParallelism, kNow);
        EXPECT_TRUE(got.has_value()) << got.error().ToString();
        if (got) queued[static_cast<size_t>(i)] = std::move(*got);
      });
    }
    for (auto& t : pool) t.join();
    std::set<std::string> all;
    for (const auto& got : queued) {
      for (const TaskInstance& ti : got) {
        EXPECT_TRUE(all.insert(ti.id).second) << "round " << round << ": queued twice";
      }
    }
    EXPECT_EQ(all.size(), static_cast<size_t>(kParallelism - 1)) << "round " << round;
    EXPECT_EQ(InFlight(*store_, {"run", run_id}), kParallelism) << "round " << round;
    ASSERT_OK(store_->DeleteDagRun("dag", run_id));
    ASSERT_OK(store_->DeleteDagRun("dag", "run"));
  }
}

TEST_P(StoreContractTest, StartDagRunKeepsToMaxActiveRuns) {
  CreateRun("dag", "r1");
  CreateRun("dag", "r2");
  CreateRun("dag", "r3");
  CreateRun("other", "r1");
  auto started = store_->StartDagRun("dag", "r1", 2, kNow + 1);
  ASSERT_OK(started);
  EXPECT_EQ(started->state, DagRunState::kRunning);
  EXPECT_EQ(started->start_date, kNow + 1);
  ASSERT_OK(store_->StartDagRun("dag", "r2", 2, kNow));
  EXPECT_CODE(store_->StartDagRun("dag", "r3", 2, kNow), ErrorCode::kResourceExhausted);
  EXPECT_EQ(store_->GetDagRun("dag", "r3")->state, DagRunState::kQueued);
  EXPECT_FALSE(store_->GetDagRun("dag", "r3")->start_date.has_value());
  ASSERT_OK(store_->StartDagRun("other", "r1", 1, kNow));  // another Dag's count
  EXPECT_CODE(store_->StartDagRun("dag", "r1", 5, kNow), ErrorCode::kFailedPrecondition);
  EXPECT_CODE(store_->StartDagRun("dag", "nope", 5, kNow), ErrorCode::kNotFound);
  ASSERT_OK(
      store_->TransitionDagRun("dag", "r1", {DagRunState::kRunning}, DagRunState::kSuccess, kNow));
  ASSERT_OK(store_->StartDagRun("dag", "r3", 2, kNow));
}

// Schedulers starting queued runs of one Dag at once: together they start exactly
// max_active_runs of them.
TEST_P(StoreContractTest, ConcurrentRunStartsOnTwoStoresKeepToMaxActiveRuns) {
  std::unique_ptr<Store> other;
  std::vector<Store*> stores = StoresOnOneDatabase(other);
  ASSERT_FALSE(stores.empty());
  constexpr int kMaxActiveRuns = 2;
  constexpr int kThreads = 6;
  for (int round = 0; round < 20; ++round) {
    const std::string dag_id = "dag" + std::to_string(round);
    for (int i = 0; i < kThreads; ++i) CreateRun(dag_id, "r" + std::to_string(i));
    std::atomic<int> started = 0;
    std::latch start(kThreads);
    std::vector<std::thread> pool;
    for (int i = 0; i < kThreads; ++i) {
      pool.emplace_back([&, i] {
        Store& s = *stores[static_cast<size_t>(i) % stores.size()];
        start.arrive_and_wait();
        auto got = s.StartDagRun(dag_id, "r" + std::to_string(i), kMaxActiveRuns, kNow);
        if (got) {
          ++started;
        } else {
          EXPECT_EQ(got.error().code(), ErrorCode::kResourceExhausted) << got.error().ToString();
        }
      });
    }
    for (auto& t : pool) t.join();
    EXPECT_EQ(started.load(), kMaxActiveRuns) << "round " << round;
    auto runs = store_->ListDagRuns(dag_id);
    ASSERT_OK(runs);
    EXPECT_EQ(std::count_if(runs->begin(), runs->end(),
                            [](const DagRun& r) { return r.state == DagRunState::kRunning; }),
              kMaxActiveRuns)
        << "round " << round;
  }
}

// --- Deferral -------------------------------------------------------------------------

Trigger DateTrigger(std::optional<int64_t> timeout_at = kNow + 3600) {
  return Trigger{.kind = "datetime",
                 .args_json = R"({"moment":"2027-01-15T10:00:00Z"})",
                 .created_at = kNow,
                 .timeout_at = timeout_at};
}

void StoreContractTest::DeferRunningTasks(int count, std::vector<int64_t>& ids) {
  for (int i = 0; i < count; ++i) {
    TaskInstance ti = CreateTi(TaskState::kRunning, "t" + std::to_string(i));
    auto trigger = store_->DeferTaskInstance(ti.id, DateTrigger());
    ASSERT_OK(trigger);
    ids.push_back(trigger->id);
  }
}

TEST_P(StoreContractTest, DeferStoresTheTriggerAndFireResumesTheTask) {
  CreateRun();
  TaskInstance ti = CreateTi(TaskState::kRunning);
  auto trigger = store_->DeferTaskInstance(ti.id, DateTrigger());
  ASSERT_TRUE(trigger.has_value()) << trigger.error().ToString();
  EXPECT_GT(trigger->id, 0);
  EXPECT_EQ(trigger->ti_id, ti.id);
  EXPECT_EQ(trigger->kind, "datetime");
  EXPECT_EQ(trigger->timeout_at, kNow + 3600);
  EXPECT_EQ(trigger->triggerer_id, "");
  EXPECT_FALSE(trigger->lease_expires_at.has_value());
  EXPECT_EQ(store_->GetTaskInstance(ti.id)->state, TaskState::kDeferred);
  auto listed = store_->ListTriggers();
  ASSERT_OK(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].args_json, R"({"moment":"2027-01-15T10:00:00Z"})");

  // Only a running task instance defers.
  EXPECT_CODE(store_->DeferTaskInstance(ti.id, DateTrigger()), ErrorCode::kFailedPrecondition);
  EXPECT_CODE(store_->DeferTaskInstance(NewId(), DateTrigger()), ErrorCode::kNotFound);

  auto resumed = store_->FireTrigger(trigger->id, R"({"moment":"2027-01-15T10:00:00Z"})");
  ASSERT_TRUE(resumed.has_value()) << resumed.error().ToString();
  EXPECT_EQ(resumed->state, TaskState::kScheduled);
  EXPECT_EQ(resumed->try_number, 1);  // a resumed try is the same try
  EXPECT_EQ(resumed->hostname, "");
  EXPECT_EQ(resumed->pid, 0);
  EXPECT_FALSE(resumed->start_date.has_value());
  EXPECT_EQ(resumed->trigger_event_json, R"({"moment":"2027-01-15T10:00:00Z"})");
  EXPECT_EQ(store_->GetTaskInstance(ti.id)->trigger_event_json,
            R"({"moment":"2027-01-15T10:00:00Z"})");
  EXPECT_CODE(store_->GetTrigger(trigger->id), ErrorCode::kNotFound);
  EXPECT_CODE(store_->FireTrigger(trigger->id, "{}"), ErrorCode::kNotFound);
  EXPECT_TRUE(store_->ListTriggers()->empty());
}

TEST_P(StoreContractTest, ListTimedOutTriggersReturnsOnlyThoseDueByNow) {
  CreateRun();
  TaskInstance due = CreateTi(TaskState::kRunning, "due");
  TaskInstance later = CreateTi(TaskState::kRunning, "later");
  TaskInstance never = CreateTi(TaskState::kRunning, "never");
  TaskInstance exact = CreateTi(TaskState::kRunning, "exact");
  auto t_due = store_->DeferTaskInstance(due.id, DateTrigger(kNow - 1));
  auto t_later = store_->DeferTaskInstance(later.id, DateTrigger(kNow + 60));
  auto t_never = store_->DeferTaskInstance(never.id, DateTrigger(std::nullopt));
  auto t_exact = store_->DeferTaskInstance(exact.id, DateTrigger(kNow));
  ASSERT_OK(t_due);
  ASSERT_OK(t_later);
  ASSERT_OK(t_never);
  ASSERT_OK(t_exact);
  auto timed_out = store_->ListTimedOutTriggers(kNow);
  ASSERT_OK(timed_out);
  ASSERT_EQ(timed_out->size(), 2u);
  EXPECT_EQ((*timed_out)[0].id, t_due->id);  // by id
  EXPECT_EQ((*timed_out)[1].id, t_exact->id);
  EXPECT_EQ((*timed_out)[0].args_json, t_due->args_json);
  EXPECT_EQ(store_->ListTimedOutTriggers(kNow + 60)->size(), 3u);
  EXPECT_TRUE(store_->ListTimedOutTriggers(kNow - 2)->empty());
  auto all = store_->ListTriggers();
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), 4u);
  for (size_t i = 1; i < all->size(); ++i) EXPECT_LT((*all)[i - 1].id, (*all)[i].id);
}

TEST_P(StoreContractTest, FailTriggerFailsTheTaskAndRetryClearsTheEvent) {
  CreateRun();
  TaskInstance ti = CreateTi(TaskState::kRunning);
  auto trigger = store_->DeferTaskInstance(ti.id, DateTrigger(std::nullopt));
  ASSERT_OK(trigger);
  EXPECT_FALSE(trigger->timeout_at.has_value());
  auto failed = store_->FailTrigger(trigger->id, kNow + 5);
  ASSERT_OK(failed);
  EXPECT_EQ(failed->state, TaskState::kFailed);
  EXPECT_EQ(failed->end_date, kNow + 5);
  EXPECT_CODE(store_->GetTrigger(trigger->id), ErrorCode::kNotFound);

  // A resumed task that then fails and is retried starts its next try without the event.
  TaskInstance other = CreateTi(TaskState::kRunning, "other");
  auto second = store_->DeferTaskInstance(other.id, DateTrigger());
  ASSERT_OK(second);
  ASSERT_OK(store_->FireTrigger(second->id, R"({"ok":true})"));
  ASSERT_OK(
      store_->TransitionTaskInstance(other.id, TaskState::kScheduled, TaskState::kQueued, kNow));
  ASSERT_OK(store_->StartTaskInstance(other.id, "w", 7, kNow));
  EXPECT_EQ(store_->GetTaskInstance(other.id)->trigger_event_json, R"({"ok":true})");
  ASSERT_OK(store_->FinishTaskInstance(other.id, TaskState::kUpForRetry, kNow));
  auto retried = store_->RetryTaskInstance(other.id, NewId());
  ASSERT_OK(retried);
  EXPECT_EQ(retried->trigger_event_json, "");
}

// A task instance can be up_for_retry with its trigger still stored (moved on from
// deferred by hand, say); the next try starts without it, and the rename is not refused.
TEST_P(StoreContractTest, RetryDropsATriggerLeftBehind) {
  CreateRun();
  TaskInstance ti = CreateTi(TaskState::kRunning);
  auto trigger = store_->DeferTaskInstance(ti.id, DateTrigger());
  ASSERT_OK(trigger);
  ASSERT_OK(
      store_->TransitionTaskInstance(ti.id, TaskState::kDeferred, TaskState::kUpForRetry, kNow));
  const std::string next_id = NewId();
  ASSERT_OK(store_->RetryTaskInstance(ti.id, next_id));
  EXPECT_CODE(store_->GetTrigger(trigger->id), ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetTaskInstance(next_id)->state, TaskState::kScheduled);
}

TEST_P(StoreContractTest, TriggerOfATaskNoLongerDeferredCannotFireOrFail) {
  CreateRun();
  TaskInstance ti = CreateTi(TaskState::kRunning);
  auto trigger = store_->DeferTaskInstance(ti.id, DateTrigger());
  ASSERT_OK(trigger);
  // Someone else (a user marking it failed, say) moved the task on.
  ASSERT_OK(store_->TransitionTaskInstance(ti.id, TaskState::kDeferred, TaskState::kSkipped, kNow));
  auto fired = store_->FireTrigger(trigger->id, "{}");
  ASSERT_FALSE(fired.has_value());
  EXPECT_EQ(fired.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(fired.error().message(), HasSubstr("is skipped, not deferred"));
  EXPECT_CODE(store_->FailTrigger(trigger->id, kNow), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetTaskInstance(ti.id)->state, TaskState::kSkipped);
  EXPECT_EQ(store_->GetTaskInstance(ti.id)->trigger_event_json, "");
}

TEST_P(StoreContractTest, TriggerLeasesAreClaimedRenewedAndTakenOverWhenExpired) {
  CreateRun();
  std::vector<int64_t> ids;
  ASSERT_NO_FATAL_FAILURE(DeferRunningTasks(3, ids));
  auto a = store_->ClaimTriggers("triggerer-a", 2, kNow + 30, kNow);
  ASSERT_OK(a);
  ASSERT_EQ(a->size(), 2u);
  EXPECT_EQ((*a)[0].id, ids[0]);  // oldest first
  EXPECT_EQ((*a)[1].triggerer_id, "triggerer-a");
  EXPECT_EQ((*a)[1].lease_expires_at, kNow + 30);
  auto b = store_->ClaimTriggers("triggerer-b", 10, kNow + 30, kNow);
  ASSERT_OK(b);
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ((*b)[0].id, ids[2]);
  EXPECT_TRUE(store_->ClaimTriggers("triggerer-b", 10, kNow + 30, kNow)->empty());
  EXPECT_TRUE(store_->ClaimTriggers("triggerer-b", 0, kNow + 30, kNow)->empty());

  // a renews its first trigger only; b cannot renew a's.
  const int64_t first_only[] = {ids[0]};
  auto renewed = store_->RenewTriggerLeases("triggerer-a", first_only, kNow + 90);
  ASSERT_OK(renewed);
  ASSERT_EQ(renewed->size(), 1u);
  EXPECT_EQ((*renewed)[0].lease_expires_at, kNow + 90);
  EXPECT_TRUE(store_->RenewTriggerLeases("triggerer-b", ids, kNow + 90)->size() == 1u);

  // At kNow + 60 a's second lease has run out: b takes it over, and a's renewal of it fails.
  auto takeover = store_->ClaimTriggers("triggerer-b", 10, kNow + 120, kNow + 60);
  ASSERT_OK(takeover);
  ASSERT_EQ(takeover->size(), 1u);
  EXPECT_EQ((*takeover)[0].id, ids[1]);
  auto a_again = store_->RenewTriggerLeases("triggerer-a", ids, kNow + 150);
  ASSERT_OK(a_again);
  ASSERT_EQ(a_again->size(), 1u);
  EXPECT_EQ((*a_again)[0].id, ids[0]);

  EXPECT_CODE(store_->ClaimTriggers("", 1, kNow, kNow), ErrorCode::kInvalidArgument);
  EXPECT_CODE(store_->RenewTriggerLeases(std::string(201, 'x'), ids, kNow),
              ErrorCode::kInvalidArgument);
}

// Several triggerers claiming at once (threads, and on the SQL stores two Store objects as
// two processes would): every trigger goes to exactly one of them.
TEST_P(StoreContractTest, ConcurrentClaimsNeverShareATrigger) {
  CreateRun();
  constexpr int kTriggers = 40;
  for (int i = 0; i < kTriggers; ++i) {
    TaskInstance ti = CreateTi(TaskState::kRunning, "t" + std::to_string(i));
    ASSERT_OK(store_->DeferTaskInstance(ti.id, DateTrigger()));
  }
  std::unique_ptr<Store> other;
  std::vector<Store*> stores = StoresOnOneDatabase(other);
  ASSERT_FALSE(stores.empty());
  constexpr int kThreads = 6;
  std::vector<std::vector<Trigger>> claimed(kThreads);
  std::latch start(kThreads);
  std::vector<std::thread> pool;
  for (int i = 0; i < kThreads; ++i) {
    pool.emplace_back([&, i] {
      Store& s = *stores[static_cast<size_t>(i) % stores.size()];
      start.arrive_and_wait();
      for (int round = 0; round < 5; ++round) {
        auto got = s.ClaimTriggers("triggerer-" + std::to_string(i), 3, kNow + 30, kNow);
        if (got) claimed[i].insert(claimed[i].end(), got->begin(), got->end());
      }
    });
  }
  for (auto& t : pool) t.join();
  std::map<int64_t, std::string> owner;
  for (int i = 0; i < kThreads; ++i) {
    for (const Trigger& t : claimed[i]) {
      EXPECT_TRUE(owner.emplace(t.id, t.triggerer_id).second) << "trigger " << t.id << " twice";
      EXPECT_EQ(t.triggerer_id, "triggerer-" + std::to_string(i));
    }
  }
  EXPECT_EQ(owner.size(), static_cast<size_t>(kTriggers));
  auto stored = store_->ListTriggers();
  ASSERT_OK(stored);
  for (const Trigger& t : *stored) EXPECT_EQ(owner[t.id], t.triggerer_id);
}

// Two triggerers (on the SQL stores, two Store objects) claiming at once while there are
// enough unclaimed triggers for both: each gets a full share, neither comes back short.
TEST_P(StoreContractTest, ConcurrentClaimersEachGetWorkWhileEnoughIsUnclaimed) {
  std::unique_ptr<Store> other;
  std::vector<Store*> stores = StoresOnOneDatabase(other);
  ASSERT_FALSE(stores.empty());
  constexpr int kCapacity = 5;
  for (int round = 0; round < 20; ++round) {
    const std::string run_id = "run" + std::to_string(round);
    CreateRun("dag", run_id);
    for (int i = 0; i < 2 * kCapacity; ++i) {
      TaskInstance ti{.id = NewId(),
                      .dag_id = "dag",
                      .run_id = run_id,
                      .task_id = "t" + std::to_string(i),
                      .state = TaskState::kRunning};
      ASSERT_OK(store_->CreateTaskInstance(ti));
      ASSERT_OK(store_->DeferTaskInstance(ti.id, DateTrigger()));
    }
    std::vector<std::vector<Trigger>> claimed(2);
    std::latch start(2);
    std::vector<std::thread> pool;
    for (int i = 0; i < 2; ++i) {
      pool.emplace_back([&, i] {
        Store& s = *stores[static_cast<size_t>(i) % stores.size()];
        start.arrive_and_wait();
        auto got = s.ClaimTriggers("triggerer-" + std::to_string(i), kCapacity, kNow + 30, kNow);
        EXPECT_TRUE(got.has_value()) << got.error().ToString();
        if (got) claimed[static_cast<size_t>(i)] = std::move(*got);
      });
    }
    for (auto& t : pool) t.join();
    EXPECT_EQ(claimed[0].size(), static_cast<size_t>(kCapacity)) << "round " << round;
    EXPECT_EQ(claimed[1].size(), static_cast<size_t>(kCapacity)) << "round " << round;
    std::set<int64_t> ids;
    for (const auto& got : claimed) {
      for (const Trigger& t : got) EXPECT_TRUE(ids.insert(t.id).second) << "claimed twice";
    }
  }
}

TEST_P(StoreContractTest, DeletingADagRunDeletesItsTriggers) {
  CreateRun();
  TaskInstance ti = CreateTi(TaskState::kRunning);
  auto trigger = store_->DeferTaskInstance(ti.id, DateTrigger());
  ASSERT_OK(trigger);
  ASSERT_OK(store_->DeleteDagRun("dag", "run"));
  EXPECT_CODE(store_->GetTrigger(trigger->id), ErrorCode::kNotFound);
  EXPECT_TRUE(store_->ListTriggers()->empty());
}

TEST_P(StoreContractTest, HeartbeatIsRecordedOnlyForTheRunningOwner) {
  CreateRun();
  TaskInstance ti = CreateTi(TaskState::kRunning);  // worker-1, pid 4242
  auto beat = store_->Heartbeat(ti.id, "worker-1", 4242, kNow + 5);
  ASSERT_TRUE(beat.has_value()) << beat.error().ToString();
  EXPECT_EQ(*beat, HeartbeatRefusal::kNone);
  EXPECT_EQ(store_->GetTaskInstance(ti.id)->last_heartbeat_at, kNow + 5);

  EXPECT_EQ(store_->Heartbeat(ti.id, "worker-2", 4242, kNow + 6).value(),
            HeartbeatRefusal::kRunningElsewhere);
  EXPECT_EQ(store_->Heartbeat(ti.id, "worker-1", 4243, kNow + 7).value(),
            HeartbeatRefusal::kRunningElsewhere);
  EXPECT_EQ(store_->GetTaskInstance(ti.id)->last_heartbeat_at, kNow + 5);

  TaskInstance queued = CreateTi(TaskState::kQueued, "queued");
  EXPECT_EQ(store_->Heartbeat(queued.id, "worker-1", 4242, kNow).value(),
            HeartbeatRefusal::kNotRunning);
  ASSERT_OK(store_->FinishTaskInstance(ti.id, TaskState::kSuccess, kNow + 8));
  EXPECT_EQ(store_->Heartbeat(ti.id, "worker-1", 4242, kNow + 9).value(),
            HeartbeatRefusal::kNotRunning);
  EXPECT_EQ(store_->GetTaskInstance(ti.id)->last_heartbeat_at, kNow + 5);
  EXPECT_CODE(store_->Heartbeat(NewId(), "worker-1", 4242, kNow), ErrorCode::kNotFound);
}

TEST_P(StoreContractTest, HeartbeatsAnswerEachRequestAsHeartbeatWould) {
  CreateRun();
  TaskInstance a = CreateTi(TaskState::kRunning, "a");  // worker-1, pid 4242
  TaskInstance b = CreateTi(TaskState::kRunning, "b");
  TaskInstance queued = CreateTi(TaskState::kQueued, "queued");
  const std::string missing = NewId();
  const std::string bad_host = "worker\0-1";  // NUL: no database can store it
  std::vector<Store::HeartbeatRequest> requests = {
      {a.id, "worker-1", 4242, kNow + 5},  // recorded
      {b.id, "worker-2", 4242, kNow + 5},  // another host
      {b.id, "worker-1", 4242, kNow + 6},  // the same instance twice in one batch: recorded
      {queued.id, "worker-1", 4242, kNow + 5},
      {missing, "worker-1", 4242, kNow + 5},
      {a.id, std::string_view(bad_host.data(), bad_host.size() + 1), 4242, kNow + 5},
      {a.id, "worker-1", 1, kNow + 5},  // another pid
  };
  auto results = store_->Heartbeats(requests);
  ASSERT_EQ(results.size(), requests.size());
  EXPECT_EQ(results[0].value(), HeartbeatRefusal::kNone);
  EXPECT_EQ(results[1].value(), HeartbeatRefusal::kRunningElsewhere);
  EXPECT_EQ(results[2].value(), HeartbeatRefusal::kNone);
  EXPECT_EQ(results[3].value(), HeartbeatRefusal::kNotRunning);
  EXPECT_CODE(results[4], ErrorCode::kNotFound);
  EXPECT_CODE(results[5], ErrorCode::kInvalidArgument);
  EXPECT_EQ(results[6].value(), HeartbeatRefusal::kRunningElsewhere);
  EXPECT_EQ(store_->GetTaskInstance(a.id)->last_heartbeat_at, kNow + 5);
  EXPECT_EQ(store_->GetTaskInstance(b.id)->last_heartbeat_at, kNow + 6);
  EXPECT_EQ(store_->GetTaskInstance(queued.id)->last_heartbeat_at, std::nullopt);
  EXPECT_TRUE(store_->Heartbeats({}).empty());
}

// Requests for one instance, host and pid in one batch are all recorded, and the row keeps
// the latest time whatever their order; hostnames with the characters of a PostgreSQL
// array literal (quotes, backslashes, commas, braces) match exactly.
TEST_P(StoreContractTest, HeartbeatsOfOneInstanceInOneBatchKeepTheLatestTime) {
  CreateRun();
  TaskInstance a = CreateTi(TaskState::kRunning, "a");  // worker-1, pid 4242
  TaskInstance odd{.id = NewId(),
                   .dag_id = "dag",
                   .run_id = "run",
                   .task_id = "odd",
                   .state = TaskState::kRunning,
                   .hostname = "we\"ird\\, {host} NULL",
                   .pid = 7,
                   .start_date = kNow};
  ASSERT_OK(store_->CreateTaskInstance(odd));
  std::vector<Store::HeartbeatRequest> requests = {
      {a.id, "worker-1", 4242, kNow + 7},
      {odd.id, odd.hostname, 7, kNow + 3},
      {a.id, "worker-1", 4242, kNow + 6},
      {odd.id, "we\"ird\\, {host}", 7, kNow + 4},  // not the same hostname
      {a.id, "worker-1", 4242, kNow + 7},
  };
  auto results = store_->Heartbeats(requests);
  ASSERT_EQ(results.size(), requests.size());
  EXPECT_EQ(results[0].value(), HeartbeatRefusal::kNone);
  EXPECT_EQ(results[1].value(), HeartbeatRefusal::kNone);
  EXPECT_EQ(results[2].value(), HeartbeatRefusal::kNone);
  EXPECT_EQ(results[3].value(), HeartbeatRefusal::kRunningElsewhere);
  EXPECT_EQ(results[4].value(), HeartbeatRefusal::kNone);
  EXPECT_EQ(store_->GetTaskInstance(a.id)->last_heartbeat_at, kNow + 7);
  EXPECT_EQ(store_->GetTaskInstance(odd.id)->last_heartbeat_at, kNow + 3);
}

// A row another transaction changes while a batch waits for it is still recorded (on
// PostgreSQL the one-statement write cannot see the row's new version, and the batch
// sends that request again: sql_store.cc).
class SqlHeartbeatTest : public StoreContractTest {};

TEST_P(SqlHeartbeatTest, HeartbeatsWaitingForAnotherWritersRowAreRecorded) {
  CreateRun();
  TaskInstance a = CreateTi(TaskState::kRunning, "a");
  TaskInstance b = CreateTi(TaskState::kRunning, "b");
  auto other = Connect();
  ASSERT_TRUE(other.has_value()) << other.error().ToString();
  const bool sqlite = GetParam() == Backend::kSqlite;
  ASSERT_OK((*other)->ExecuteScript(sqlite ? "BEGIN IMMEDIATE" : "BEGIN"));
  ASSERT_OK((*other)->Execute("UPDATE task_instance SET last_heartbeat_at = 1 WHERE id = $1",
                              std::vector<SqlParam>{std::string_view(a.id)}));
  std::vector<Result<HeartbeatRefusal>> results;
  std::thread batch([&] {
    std::vector<Store::HeartbeatRequest> requests = {{a.id, "worker-1", 4242, kNow + 5},
                                                     {b.id, "worker-1", 4242, kNow + 5}};
    results = store_->Heartbeats(requests);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the batch waits for the row
  ASSERT_OK((*other)->ExecuteScript("COMMIT"));
  batch.join();
  ASSERT_EQ(results.size(), 2u);
  for (const auto& result : results) {
    ASSERT_TRUE(result.has_value()) << result.error().ToString();
    EXPECT_EQ(*result, HeartbeatRefusal::kNone);
  }
  EXPECT_EQ(store_->GetTaskInstance(a.id)->last_heartbeat_at, kNow + 5);
  EXPECT_EQ(store_->GetTaskInstance(b.id)->last_heartbeat_at, kNow + 5);
}

// PostgreSQL's heartbeat statements, seen through a trigger that records each UPDATE of a
// task instance: the row, its new state and the synchronous_commit it ran under. The
// store under test (`s_`) has sessions with synchronous_commit on, as a durable server does
// (the test cluster runs with it off: scripts/with-postgres.sh), and one connection, so
// that a setting of one transaction cannot hide in another.
class PostgresHeartbeatTest : public StoreContractTest {
 protected:
  void SetUp() override {
    StoreContractTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto raw = Connect();
    ASSERT_TRUE(raw.has_value()) << raw.error().ToString();
    raw_ = std::move(*raw);
    ASSERT_OK(raw_->ExecuteScript(R"sql(
CREATE TABLE commit_mode (n BIGINT GENERATED ALWAYS AS IDENTITY, ti_id TEXT NOT NULL,
                          state TEXT NOT NULL, mode TEXT NOT NULL);
CREATE FUNCTION record_commit_mode() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO commit_mode (ti_id, state, mode)
    VALUES (NEW.id, NEW.state, current_setting('synchronous_commit'));
  RETURN NEW;
END $$;
CREATE TRIGGER record_commit_mode AFTER UPDATE ON task_instance
  FOR EACH ROW EXECUTE FUNCTION record_commit_mode();
)sql"));
    auto store = OpenStore(url_ + std::string(kSynchronousCommitOn),
                           StoreOptions{.fernet_key = kFernetKey, .max_connections = 1});
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    s_ = std::move(*store);
  }

  void TearDown() override {
    s_.reset();
    raw_.reset();
    StoreContractTest::TearDown();
  }

  // Heartbeats through `s_`, each of which must be recorded.
  void RecordAll(std::vector<Store::HeartbeatRequest> requests) {
    for (const auto& result : s_->Heartbeats(requests)) {
      ASSERT_TRUE(result.has_value()) << result.error().ToString();
      EXPECT_EQ(*result, HeartbeatRefusal::kNone);
    }
  }

  // The UPDATEs recorded so far, "<ti id> <state> <synchronous_commit>", in order.
  std::vector<std::string> Updates() {
    auto modes = raw_->Execute("SELECT ti_id, state, mode FROM commit_mode ORDER BY n", {});
    EXPECT_TRUE(modes.has_value()) << modes.error().ToString();
    std::vector<std::string> updates;
    if (!modes) return updates;
    for (const auto& row : modes->rows) {
      updates.push_back(*row[0] + " " + *row[1] + " " + *row[2]);
    }
    return updates;
  }

  // A connection of its own to the test database (with `options` appended to its URL),
  // and its backend's pid.
  struct Session {
    std::unique_ptr<SqlConnection> connection;
    std::string pid;
    Result<void> Script(const std::string& sql) {
      if (!connection) return std::unexpected(Error(ErrorCode::kInternal, "not connected"));
      return connection->ExecuteScript(sql);
    }
    Result<SqlResult> Run(std::string_view sql, std::string_view id) {
      if (!connection) return std::unexpected(Error(ErrorCode::kInternal, "not connected"));
      return connection->Execute(sql, std::vector<SqlParam>{id});
    }
  };
  Session OpenSession(std::string_view options = {}) {
    auto connection = PostgresConnection::Connect(url_ + std::string(options));
    EXPECT_TRUE(connection.has_value()) << connection.error().ToString();
    if (!connection) return {};
    auto pid = (*connection)->Execute("SELECT pg_backend_pid()", {});
    EXPECT_TRUE(pid.has_value()) << pid.error().ToString();
    return {std::move(*connection), pid ? *pid->rows[0][0] : ""};
  }

  // The pid of the backend that waits for a lock `blocker` holds, once one does (polled
  // for up to five seconds); empty if none does. Other tests share the database, so only
  // who waits for `blocker` counts.
  std::string WaiterOf(const std::string& blocker) {
    for (int i = 0; i < 500 && !blocker.empty(); ++i) {
      auto waiters = raw_->Execute(
          "SELECT pid FROM pg_stat_activity WHERE CAST($1 AS INTEGER) = ANY "
          "(pg_blocking_pids(pid))",
          std::vector<SqlParam>{std::string_view(blocker)});
      EXPECT_TRUE(waiters.has_value()) << waiters.error().ToString();
      if (!waiters) return {};
      if (waiters->rows.size() == 1) return *waiters->rows[0][0];
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return {};
  }

  static constexpr std::string_view kSynchronousCommitOn = "%20-csynchronous_commit%3Don";
  static constexpr std::string_view kLockRow = "UPDATE task_instance SET pid = pid WHERE id = $1";
  std::unique_ptr<SqlConnection> raw_;
  std::unique_ptr<Store> s_;
};

// The transactions that record heartbeats, and only those, commit without waiting for the
// disk (sql_store.cc: AIRLOCK_ASYNC_COMMIT_CTE), on every heartbeat path: the batch
// statement, the single-row statement after it, and Heartbeat().
TEST_P(PostgresHeartbeatTest, OnlyTransactionsThatRecordHeartbeatsCommitAsynchronously) {
  CreateRun();
  TaskInstance a = CreateTi(TaskState::kRunning, "a");
  TaskInstance b = CreateTi(TaskState::kRunning, "b");

  RecordAll({{a.id, "worker-1", 4242, kNow + 1}, {b.id, "worker-1", 4242, kNow + 1}});
  // A row changed while the batch waits for it goes through the single-row statement
  // (SqlHeartbeatTest). The change is made with synchronous_commit on.
  Session other = OpenSession(kSynchronousCommitOn);
  ASSERT_OK(other.Script("BEGIN"));
  ASSERT_OK(other.Run(kLockRow, a.id));
  std::thread batch([&] { RecordAll({{a.id, "worker-1", 4242, kNow + 2}}); });
  // No ASSERT until the batch is joined: the other transaction ends and lets it finish.
  EXPECT_FALSE(WaiterOf(other.pid).empty()) << "the batch never waited for a";
  EXPECT_OK(other.Script("COMMIT"));
  batch.join();
  ASSERT_EQ(s_->Heartbeat(a.id, "worker-1", 4242, kNow + 3), HeartbeatRefusal::kNone);
  ASSERT_OK(s_->FinishTaskInstance(b.id, TaskState::kSuccess, kNow + 4));
  ASSERT_EQ(s_->Heartbeat(a.id, "worker-1", 4242, kNow + 5), HeartbeatRefusal::kNone);
  ASSERT_OK(s_->FinishTaskInstance(a.id, TaskState::kFailed, kNow + 6));

  std::vector<std::string> got = Updates();
  ASSERT_EQ(got.size(), 8u);
  std::sort(got.begin(), got.begin() + 2);  // a batch writes in id order
  std::vector<std::string> want = {a.id + " running off", b.id + " running off",  // the batch
                                   a.id + " running on",   // the other transaction's change
                                   a.id + " running off",  // the single-row statement
                                   a.id + " running off",  // Heartbeat()
                                   b.id + " success on",   // a state change
                                   a.id + " running off", a.id + " failed on"};
  std::sort(want.begin(), want.begin() + 2);
  EXPECT_EQ(got, want);
}

// Requests for one instance, host and pid in one batch are written as one: the row is
// updated once, with the latest time, and every request is answered as recorded. (Each
// used to be one more statement after the batch's.)
TEST_P(PostgresHeartbeatTest, RequestsForOneInstanceInABatchUpdateItsRowOnce) {
  CreateRun();
  TaskInstance a = CreateTi(TaskState::kRunning, "a");
  TaskInstance b = CreateTi(TaskState::kRunning, "b");
  RecordAll({{a.id, "worker-1", 4242, kNow + 2},
             {b.id, "worker-1", 4242, kNow + 1},
             {a.id, "worker-1", 4242, kNow + 3},
             {a.id, "worker-1", 4242, kNow + 1}});
  std::vector<std::string> got = Updates();
  std::sort(got.begin(), got.end());
  std::vector<std::string> want = {a.id + " running off", b.id + " running off"};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
  EXPECT_EQ(s_->GetTaskInstance(a.id)->last_heartbeat_at, kNow + 3);
  EXPECT_EQ(s_->GetTaskInstance(b.id)->last_heartbeat_at, kNow + 1);
}

// A batch that PostgreSQL aborts to break a deadlock is written again, one request at a
// time. Another transaction holds b and then asks for a while the batch, which has locked
// a, waits for b. The batch began waiting first, so its deadlock check runs first and
// aborts it; the other transaction's update of a then goes through, which shows that the
// batch was the one aborted, and the answers come from the second writing. (Sent again
// whole, the batch could take a before the other transaction and deadlock once more.)
TEST_P(PostgresHeartbeatTest, ABatchAbortedToBreakADeadlockIsWrittenAgain) {
  CreateRun();
  TaskInstance a = CreateTi(TaskState::kRunning, "a");
  TaskInstance b = CreateTi(TaskState::kRunning, "b");
  if (b.id < a.id) std::swap(a, b);  // the batch locks in id order: a, then b
  Session other = OpenSession();
  ASSERT_OK(other.Script("BEGIN"));
  ASSERT_OK(other.Run(kLockRow, b.id));
  std::vector<Result<HeartbeatRefusal>> results;
  std::thread batch([&] {
    results = s_->Heartbeats(std::vector<Store::HeartbeatRequest>{
        {a.id, "worker-1", 4242, kNow + 1}, {b.id, "worker-1", 4242, kNow + 1}});
  });
  // No ASSERT until the batch is joined: the other transaction ends and lets it finish.
  const bool waiting = !WaiterOf(other.pid).empty();
  EXPECT_TRUE(waiting) << "the batch never waited for b";
  if (waiting) {
    auto locked = other.Run(kLockRow, a.id);  // a deadlock, broken by aborting the batch
    EXPECT_TRUE(locked.has_value()) << locked.error().ToString();
  }
  auto committed = other.Script("COMMIT");
  EXPECT_TRUE(committed.has_value()) << committed.error().ToString();
  batch.join();
  ASSERT_EQ(results.size(), 2u);
  for (const auto& result : results) {
    ASSERT_TRUE(result.has_value()) << result.error().ToString();
    EXPECT_EQ(*result, HeartbeatRefusal::kNone);
  }
  EXPECT_EQ(s_->GetTaskInstance(a.id)->last_heartbeat_at, kNow + 1);
  EXPECT_EQ(s_->GetTaskInstance(b.id)->last_heartbeat_at, kNow + 1);
}

// The same for the single-row statements that follow a batch, which run as one
// transaction: aborted to break a deadlock, their requests are written again one at a
// time. Rows a and b are changed while the batch waits for a, so the batch locks them but
// cannot record them, and passes them on to those statements (SqlHeartbeatTest); it then
// waits for c, and meanwhile a third transaction queues for b behind it. That transaction
// gets b when the batch ends, the statements that follow take a and wait for b, and it
// asks for a.
TEST_P(PostgresHeartbeatTest, RequestsAfterTheBatchAbortedToBreakADeadlockAreWrittenAgain) {
  CreateRun();
  std::vector<TaskInstance> tis = {CreateTi(TaskState::kRunning, "a"),
                                   CreateTi(TaskState::kRunning, "b"),
                                   CreateTi(TaskState::kRunning, "c")};
  std::ranges::sort(tis, {}, &TaskInstance::id);  // the order the batch locks them in
  const std::string a = tis[0].id, b = tis[1].id, c = tis[2].id;
  Session changer = OpenSession(), holder = OpenSession(), other = OpenSession();
  ASSERT_OK(changer.Script("BEGIN"));
  ASSERT_OK(changer.Run(kLockRow, a));
  ASSERT_OK(changer.Run(kLockRow, b));
  ASSERT_OK(holder.Script("BEGIN"));
  ASSERT_OK(holder.Run("SELECT 1 FROM task_instance WHERE id = $1 FOR UPDATE", c));
  ASSERT_OK(other.Script("BEGIN"));

  std::vector<Result<HeartbeatRefusal>> results;
  std::thread batch([&] {
    results = s_->Heartbeats(std::vector<Store::HeartbeatRequest>{{a, "worker-1", 4242, kNow + 1},
                                                                  {b, "worker-1", 4242, kNow + 1},
                                                                  {c, "worker-1", 4242, kNow + 1}});
  });
  // No ASSERT until the batch is joined: every transaction below must end to let it finish.
  const std::string writer = WaiterOf(changer.pid);
  EXPECT_FALSE(writer.empty()) << "the batch never waited for a";
  EXPECT_OK(changer.Script("COMMIT"));
  const bool batch_waits_for_c = !writer.empty() && WaiterOf(holder.pid) == writer;
  EXPECT_TRUE(batch_waits_for_c) << "the batch never waited for c";
  std::future<Result<SqlResult>> other_has_b;
  if (batch_waits_for_c) {
    other_has_b = std::async(std::launch::async, [&] {
      return other.Run("SELECT 1 FROM task_instance WHERE id = $1 FOR UPDATE", b);
    });
    EXPECT_EQ(WaiterOf(writer), other.pid) << "the other transaction never queued for b";
  }
  EXPECT_OK(holder.Script("COMMIT"));
  if (other_has_b.valid()) {
    auto locked = other_has_b.get();
    EXPECT_TRUE(locked.has_value()) << locked.error().ToString();
    if (locked && WaiterOf(other.pid) == writer) {
      auto deadlock = other.Run(kLockRow, a);  // broken by aborting the statements
      EXPECT_TRUE(deadlock.has_value()) << deadlock.error().ToString();
    } else {
      ADD_FAILURE() << "the statements after the batch never waited for b";
    }
  }
  EXPECT_OK(other.Script("COMMIT"));
  batch.join();
  ASSERT_EQ(results.size(), 3u);
  for (const auto& result : results) {
    ASSERT_TRUE(result.has_value()) << result.error().ToString();
    EXPECT_EQ(*result, HeartbeatRefusal::kNone);
  }
  for (const std::string& id : {a, b, c}) {
    EXPECT_EQ(s_->GetTaskInstance(id)->last_heartbeat_at, kNow + 1) << id;
  }
}

// Batches from several writers (of one api-server and of two) that share task instances,
// each listing them in another order, all succeed: none waits for another's row locks in a
// cycle (PostgreSQL would break the deadlock after a second by failing one batch).
TEST_P(StoreContractTest, ConcurrentHeartbeatBatchesSharingRowsAllSucceed) {
  CreateRun();
  std::vector<std::string> ids;
  for (int i = 0; i < 24; ++i)
    ids.push_back(CreateTi(TaskState::kRunning, "hb" + std::to_string(i)).id);
  std::unique_ptr<Store> other;
  std::vector<Store*> stores = StoresOnOneDatabase(other);
  ASSERT_FALSE(stores.empty());
  constexpr int kWriters = 4;
  constexpr int kRounds = 30;
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      Store& store = *stores[static_cast<size_t>(w) % stores.size()];
      std::vector<std::string> order = ids;
      std::mt19937 shuffle(static_cast<unsigned>(w));
      for (int round = 0; round < kRounds; ++round) {
        std::shuffle(order.begin(), order.end(), shuffle);
        std::vector<Store::HeartbeatRequest> requests;
        for (const auto& id : order) requests.push_back({id, "worker-1", 4242, kNow + round});
        for (const auto& result : store.Heartbeats(requests)) {
          if (!result || *result != HeartbeatRefusal::kNone) ++failures;
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  EXPECT_EQ(failures.load(), 0);
  for (const auto& id : ids) {
    EXPECT_GE(store_->GetTaskInstance(id)->last_heartbeat_at.value_or(0), kNow);
  }
}

// --- Variables, connections, XComs ----------------------------------------------------

TEST_P(StoreContractTest, VariableCrud) {
  EXPECT_CODE(store_->GetVariable("k"), ErrorCode::kNotFound);
  ASSERT_OK(store_->SetVariable({.key = "k", .value = "v1", .description = "first"}));
  auto got = store_->GetVariable("k");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->value, "v1");
  EXPECT_EQ(got->description, "first");
  ASSERT_OK(store_->SetVariable({.key = "k", .value = "v2"}));
  EXPECT_EQ(store_->GetVariable("k")->value, "v2");
  EXPECT_EQ(store_->GetVariable("k")->description, "");
  ASSERT_OK(store_->SetVariable({.key = "empty", .value = ""}));
  EXPECT_EQ(store_->GetVariable("empty")->value, "");
  ASSERT_OK(store_->DeleteVariable("k"));
  EXPECT_CODE(store_->GetVariable("k"), ErrorCode::kNotFound);
  EXPECT_CODE(store_->DeleteVariable("k"), ErrorCode::kNotFound);
}

TEST_P(StoreContractTest, ConnectionCrudDecryptsPasswordAndExtra) {
  Connection c{.conn_id = "warehouse",
               .conn_type = "postgres",
               .host = "db.internal",
               .schema = "analytics",
               .login = "etl",
               .password = "s3cr3t-pässword",
               .port = 5432,
               .extra = R"({"sslmode":"require","token":"abc"})"};
  ASSERT_OK(store_->SetConnection(c));
  auto got = store_->GetConnection("warehouse");
  ASSERT_TRUE(got.has_value()) << got.error().ToString();
  EXPECT_EQ(got->conn_type, "postgres");
  EXPECT_EQ(got->host, "db.internal");
  EXPECT_EQ(got->schema, "analytics");
  EXPECT_EQ(got->login, "etl");
  EXPECT_EQ(got->password, "s3cr3t-pässword");
  EXPECT_EQ(got->port, 5432);
  EXPECT_EQ(got->extra, R"({"sslmode":"require","token":"abc"})");

  c.password = "rotated";
  c.extra = "";
  ASSERT_OK(store_->SetConnection(c));
  EXPECT_EQ(store_->GetConnection("warehouse")->password, "rotated");
  EXPECT_EQ(store_->GetConnection("warehouse")->extra, "");
  ASSERT_OK(store_->DeleteConnection("warehouse"));
  EXPECT_CODE(store_->GetConnection("warehouse"), ErrorCode::kNotFound);
  EXPECT_CODE(store_->DeleteConnection("warehouse"), ErrorCode::kNotFound);
}

TEST_P(StoreContractTest, ListVariablesAndConnectionsByKey) {
  EXPECT_TRUE(store_->ListVariables()->empty());
  EXPECT_TRUE(store_->ListConnections()->empty());
  for (std::string key : {"b", "a", "B", "c"}) {
    ASSERT_OK(store_->SetVariable({.key = key, .value = "v-" + key, .description = "d"}));
    ASSERT_OK(
        store_->SetConnection({.conn_id = key, .conn_type = "http", .password = "pw-" + key}));
  }
  ASSERT_OK(store_->DeleteVariable("c"));
  ASSERT_OK(store_->DeleteConnection("c"));
  auto variables = store_->ListVariables();
  ASSERT_TRUE(variables.has_value());
  ASSERT_EQ(variables->size(), 3u);
  EXPECT_EQ((*variables)[0].key, "B");  // byte order, whatever the database's collation
  EXPECT_EQ((*variables)[1].key, "a");
  EXPECT_EQ((*variables)[1].value, "v-a");
  EXPECT_EQ((*variables)[1].description, "d");
  auto connections = store_->ListConnections();
  ASSERT_TRUE(connections.has_value()) << connections.error().ToString();
  ASSERT_EQ(connections->size(), 3u);
  EXPECT_EQ((*connections)[0].conn_id, "B");
  EXPECT_EQ((*connections)[2].conn_id, "b");
  EXPECT_EQ((*connections)[2].password, "pw-b");  // decrypted
  EXPECT_EQ((*connections)[2].conn_type, "http");
}

TEST_P(StoreContractTest, ConnectionPasswordNeedsFernetKey) {
  auto keyless = persistent() ? Open("") : std::move(OpenStore("memory://").value());
  ASSERT_NE(keyless, nullptr);
  if (!persistent()) ASSERT_OK(keyless->Migrate());
  auto refused = keyless->SetConnection({.conn_id = "c", .password = "pw"});
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(refused.error().message(), HasSubstr("fernet_key"));
  EXPECT_THAT(refused.error().message(), Not(HasSubstr("pw")));
  EXPECT_CODE(keyless->GetConnection("c"), ErrorCode::kNotFound);
  ASSERT_OK(keyless->SetConnection({.conn_id = "c", .host = "h"}));  // no secret: fine
  EXPECT_EQ(keyless->GetConnection("c")->host, "h");
  EXPECT_CODE(OpenStore(url_, {.fernet_key = "too-short"}), ErrorCode::kInvalidArgument);
}

TEST_P(StoreContractTest, ConnectionSecretsAreEncryptedAtRest) {
  if (!persistent()) GTEST_SKIP() << "the memory store has no rest";
  ASSERT_OK(store_->SetConnection(
      {.conn_id = "a", .password = "plain-password-a", .extra = R"({"token":"plain-token"})"}));
  ASSERT_OK(store_->SetConnection({.conn_id = "b", .password = "plain-password-b"}));
  auto rows = Raw("SELECT password, extra FROM connection WHERE conn_id = $1", {"a"});
  ASSERT_EQ(rows.rows.size(), 1u);
  const std::string password = rows.rows[0][0].value_or("");
  const std::string extra = rows.rows[0][1].value_or("");
  EXPECT_THAT(password, ::testing::StartsWith("gcm1:"));
  EXPECT_THAT(password, Not(HasSubstr("plain-password")));
  EXPECT_THAT(extra, ::testing::StartsWith("gcm1:"));
  EXPECT_THAT(extra, Not(HasSubstr("plain-token")));
  if (GetParam() == Backend::kSqlite) {
    store_.reset();  // checkpoint, so that the main file holds everything
    std::ifstream file(dir_ + "/airlock.db", std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(file)), {});
    EXPECT_THAT(bytes, HasSubstr("gcm1:"));
    EXPECT_THAT(bytes, Not(HasSubstr("plain-password")));
    store_ = Open();
  }
  // A ciphertext moved to another row does not decrypt there.
  Raw("UPDATE connection SET password = $1 WHERE conn_id = $2", {password, "b"});
  EXPECT_CODE(store_->GetConnection("b"), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetConnection("a")->password, "plain-password-a");
}

TEST_P(StoreContractTest, ConnectionNeedsTheKeyItWasEncryptedWith) {
  if (!persistent()) GTEST_SKIP() << "one memory store cannot be opened twice";
  ASSERT_OK(store_->SetConnection({.conn_id = "c", .password = "pw-under-first-key"}));
  auto wrong = Open(kOtherFernetKey)->GetConnection("c");
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(wrong.error().message(), HasSubstr("fernet_key"));
  EXPECT_THAT(wrong.error().message(), Not(HasSubstr("pw-under")));

  // Rotation: the new key first, the old one after it; old rows still read, new rows are
  // written under the new key.
  auto rotated = Open(std::string(kOtherFernetKey) + "," + kFernetKey);
  EXPECT_EQ(rotated->GetConnection("c")->password, "pw-under-first-key");
  ASSERT_OK(rotated->SetConnection({.conn_id = "d", .password = "pw-under-new-key"}));
  EXPECT_EQ(Open(kOtherFernetKey)->GetConnection("d")->password, "pw-under-new-key");
  EXPECT_CODE(store_->GetConnection("d"), ErrorCode::kFailedPrecondition);
}

TEST_P(StoreContractTest, XComCrud) {
  CreateRun();
  XComKey key{.dag_id = "dag", .run_id = "run", .task_id = "push", .key = "return_value"};
  EXPECT_CODE(store_->GetXCom(key), ErrorCode::kNotFound);
  ASSERT_OK(store_->SetXCom(key, R"({"rows":42})"));
  EXPECT_EQ(store_->GetXCom(key).value_or(""), R"({"rows":42})");
  ASSERT_OK(store_->SetXCom(key, "[1,2,3]"));
  EXPECT_EQ(store_->GetXCom(key).value_or(""), "[1,2,3]");

  XComKey mapped = key;
  mapped.map_index = 3;
  EXPECT_CODE(store_->GetXCom(mapped), ErrorCode::kNotFound);
  ASSERT_OK(store_->SetXCom(mapped, "\"three\""));
  EXPECT_EQ(store_->GetXCom(mapped).value_or(""), "\"three\"");
  EXPECT_EQ(store_->GetXCom(key).value_or(""), "[1,2,3]");

  ASSERT_OK(store_->DeleteXCom(key));
  EXPECT_CODE(store_->GetXCom(key), ErrorCode::kNotFound);
  EXPECT_CODE(store_->DeleteXCom(key), ErrorCode::kNotFound);

  XComKey orphan = key;
  orphan.run_id = "no-such-run";
  EXPECT_CODE(store_->SetXCom(orphan, "1"), ErrorCode::kFailedPrecondition);
}

// --- Revoked tokens, audit log, users -------------------------------------------------

// --- Failed logins --------------------------------------------------------------------

TEST_P(StoreContractTest, LoginFailuresAreCountedInWindowsThatRestartWhenTheyEnd) {
  const std::vector<std::string> both{"user:op", "address:192.0.2.1"};
  const std::vector<std::string> user{"user:op"};
  auto windows = [&](int64_t now) {
    std::map<std::string, std::pair<int64_t, int>> out;
    auto read = store_->LoginFailureWindows(both, now, 60);
    EXPECT_TRUE(read.has_value());
    for (const auto& w : read.value_or(std::vector<LoginFailureWindow>{})) {
      out[w.name] = {w.window_start, w.failures};
    }
    return out;
  };
  EXPECT_TRUE(windows(kNow).empty());
  ASSERT_OK(store_->RecordLoginFailures(both, kNow, 60));
  ASSERT_OK(store_->RecordLoginFailures(both, kNow + 10, 60));
  ASSERT_OK(store_->RecordLoginFailures(user, kNow + 59, 60));
  auto w = windows(kNow + 59);
  EXPECT_EQ(w["user:op"], std::make_pair(kNow, 3));
  EXPECT_EQ(w["address:192.0.2.1"], std::make_pair(kNow, 2));
  // A window that started 60 s ago has ended: it is not read, and the next failure starts
  // a new one.
  EXPECT_TRUE(windows(kNow + 60).empty());
  ASSERT_OK(store_->RecordLoginFailures(user, kNow + 60, 60));
  w = windows(kNow + 60);
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(w["user:op"], std::make_pair(kNow + 60, 1));
  // Clearing forgets one name; purging removes the windows that started at or before the
  // cutoff.
  ASSERT_OK(store_->ClearLoginFailures("user:op"));
  EXPECT_TRUE(windows(kNow + 60).empty());
  // The address's window, ended but not purged, started at kNow.
  EXPECT_EQ(store_->PurgeLoginFailures(kNow - 1).value(), 0);
  EXPECT_EQ(store_->PurgeLoginFailures(kNow).value(), 1);
  ASSERT_OK(store_->RecordLoginFailures(both, kNow + 70, 60));
  EXPECT_EQ(windows(kNow + 70).size(), 2u);
  EXPECT_EQ(store_->PurgeLoginFailures(kNow + 69).value(), 0);
  EXPECT_EQ(store_->PurgeLoginFailures(kNow + 70).value(), 2);
  EXPECT_TRUE(windows(kNow + 70).empty());
  // Names the database cannot hold are refused when counted and never found.
  const std::vector<std::string> bad{std::string("user:a\0b", 8)};
  EXPECT_CODE(store_->RecordLoginFailures(bad, kNow, 60), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(store_->LoginFailureWindows(bad, kNow, 60).value().empty());
}

// Two api-servers counting failures for one name at once: every failure is counted.
TEST_P(StoreContractTest, ConcurrentLoginFailuresOnTwoStoresAreAllCounted) {
  if (!persistent()) GTEST_SKIP() << "one memory store cannot be opened twice";
  auto other = Open();
  ASSERT_NE(other, nullptr);
  const std::vector<std::string> name{"user:busy"};
  constexpr int kThreads = 4, kEach = 10;
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < kThreads; ++t) {
    Store* s = t % 2 == 0 ? store_.get() : other.get();
    threads.emplace_back([&, s] {
      for (int i = 0; i < kEach; ++i) {
        if (!s->RecordLoginFailures(name, kNow, 300)) ++failed;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  auto windows = store_->LoginFailureWindows(name, kNow, 300);
  ASSERT_TRUE(windows.has_value());
  ASSERT_EQ(windows->size(), 1u);
  EXPECT_EQ((*windows)[0].failures, kThreads * kEach);
}

TEST_P(StoreContractTest, RevokedTokensAreFoundUntilPurgedAfterExpiry) {
  ASSERT_OK(store_->RevokeToken("jti-old", kNow - 10));
  ASSERT_OK(store_->RevokeToken("jti-now", kNow));
  ASSERT_OK(store_->RevokeToken("jti-new", kNow + 600));
  EXPECT_TRUE(store_->IsTokenRevoked("jti-old").value());
  EXPECT_TRUE(store_->IsTokenRevoked("jti-new").value());
  EXPECT_FALSE(store_->IsTokenRevoked("jti-never").value());

  // Revoking again keeps the later expiry.
  ASSERT_OK(store_->RevokeToken("jti-new", kNow - 100));
  ASSERT_OK(store_->RevokeToken("jti-old", kNow + 1000));

  auto purged = store_->PurgeRevokedTokens(kNow);
  ASSERT_TRUE(purged.has_value());
  EXPECT_EQ(*purged, 0);  // jti-now expires at kNow: not before it
  purged = store_->PurgeRevokedTokens(kNow + 601);
  ASSERT_TRUE(purged.has_value());
  EXPECT_EQ(*purged, 2);  // jti-now and jti-new
  EXPECT_FALSE(store_->IsTokenRevoked("jti-new").value());
  EXPECT_FALSE(store_->IsTokenRevoked("jti-now").value());
  EXPECT_TRUE(store_->IsTokenRevoked("jti-old").value());
  EXPECT_EQ(store_->PurgeRevokedTokens(kNow + 601).value(), 0);
}

TEST_P(StoreContractTest, AuditAppendAndListNewestFirst) {
  ASSERT_OK(store_->AppendAudit({}));
  std::vector<AuditEntry> batch;
  for (int i = 0; i < 5; ++i) {
    batch.push_back({.time = kNow * 1'000'000 + i,
                     .component = "api-server",
                     .jti = "jti-" + std::to_string(i),
                     .sub = NewId(),
                     .method = i % 2 ? "PUT" : "PATCH",
                     .path = "/execution/task-instances/x/heartbeat",
                     .status = 204});
  }
  ASSERT_OK(store_->AppendAudit(batch));
  ASSERT_OK(store_->AppendAudit(std::vector<AuditEntry>{{.time = 1,
                                                         .component = "api-server",
                                                         .jti = "jti-5",
                                                         .method = "GET",
                                                         .path = "/execution/health",
                                                         .status = 200}}));

  auto all = store_->ListAudit(100, 0);
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 6u);
  EXPECT_EQ((*all)[0].jti, "jti-5");  // append order, though its time is the smallest
  EXPECT_EQ((*all)[0].status, 200);
  EXPECT_EQ((*all)[5].jti, "jti-0");
  EXPECT_EQ((*all)[5].time, kNow * 1'000'000);
  EXPECT_EQ((*all)[5].sub, batch[0].sub);
  EXPECT_EQ((*all)[5].method, "PATCH");
  EXPECT_EQ((*all)[5].path, "/execution/task-instances/x/heartbeat");
  EXPECT_EQ((*all)[5].component, "api-server");

  auto page = store_->ListAudit(2, 1);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].jti, "jti-4");
  EXPECT_EQ((*page)[1].jti, "jti-3");
  EXPECT_TRUE(store_->ListAudit(10, 6)->empty());
  EXPECT_TRUE(store_->ListAudit(0, 0)->empty());
  EXPECT_CODE(store_->ListAudit(-1, 0), ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->CountAudit().value(), 6);
}

// The SQL stores insert a batch in statements of several rows (sql_store.cc,
// kAuditRowsPerInsert = 64): 64 + 64 + 16 + 4 + 2 + 1 rows here. Every row keeps its own
// values and the order of the batch.
TEST_P(StoreContractTest, AuditBatchesLargerThanOneStatementKeepEveryRowInOrder) {
  constexpr int kRows = 151;
  std::vector<AuditEntry> batch;
  for (int i = 0; i < kRows; ++i) {
    batch.push_back({.time = kNow * 1'000'000 + i,
                     .component = i % 3 ? "api-server" : "triggerer",
                     .jti = "jti-" + std::to_string(i),
                     .sub = "sub-" + std::to_string(i),
                     .method = i % 2 ? "PUT" : "GET",
                     .path = "/execution/variables/v" + std::to_string(i),
                     .status = 200 + i});
  }
  ASSERT_OK(store_->AppendAudit(batch));
  auto all = store_->ListAudit(1000, 0);
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), static_cast<size_t>(kRows));
  for (int i = 0; i < kRows; ++i) {
    const AuditEntry& got = (*all)[static_cast<size_t>(kRows - 1 - i)];  // newest first
    const AuditEntry& want = batch[static_cast<size_t>(i)];
    EXPECT_EQ(got.time, want.time) << i;
    EXPECT_EQ(got.component, want.component) << i;
    EXPECT_EQ(got.jti, want.jti) << i;
    EXPECT_EQ(got.sub, want.sub) << i;
    EXPECT_EQ(got.method, want.method) << i;
    EXPECT_EQ(got.path, want.path) << i;
    EXPECT_EQ(got.status, want.status) << i;
  }
}

// A batch is written whole or not at all, even when the bad row comes after rows that
// another statement of the same batch has already inserted.
TEST_P(StoreContractTest, AuditBatchWithOneBadRowWritesNothing) {
  std::vector<AuditEntry> batch(100, AuditEntry{.time = 1,
                                                .component = "api-server",
                                                .jti = "jti",
                                                .method = "GET",
                                                .path = "/execution/health",
                                                .status = 200});
  batch[90].path = std::string("/execution/\0health", 18);
  EXPECT_CODE(store_->AppendAudit(batch), ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->CountAudit().value(), 0);
  batch[90].path = "/execution/health";
  ASSERT_OK(store_->AppendAudit(batch));
  EXPECT_EQ(store_->CountAudit().value(), 100);
}

// Records the text of every statement its connection is given.
class TextRecordingConnection final : public SqlConnection {
 public:
  TextRecordingConnection(std::unique_ptr<SqlConnection> inner, std::set<std::string>& texts)
      : inner_(std::move(inner)), texts_(texts) {}
  Result<SqlResult> Execute(std::string_view sql, std::span<const SqlParam> params) override {
    texts_.emplace(sql);
    return inner_->Execute(sql, params);
  }
  Result<std::vector<int64_t>> ExecuteEach(std::string_view sql, size_t width,
                                           std::span<const SqlParam> params) override {
    texts_.emplace(sql);
    return inner_->ExecuteEach(sql, width, params);
  }
  Result<void> AppendRows(std::string_view table, std::span<const std::string_view> columns,
                          std::span<const SqlParam> values) override {
    texts_.emplace("append to " + std::string(table));
    return inner_->AppendRows(table, columns, values);
  }
  Result<void> ExecuteScript(const std::string& sql) override { return inner_->ExecuteScript(sql); }
  bool Healthy() const override { return inner_->Healthy(); }

 private:
  std::unique_ptr<SqlConnection> inner_;
  std::set<std::string>& texts_;
};

// A connection prepares each statement text once and keeps it (sql_connection.h), so the
// statements of a batch must not have a text per batch size. Batches of 1 to 70 here: the
// heartbeat's statements take the batch as runs or arrays (one or two texts); the audit
// rows are handed to the driver whole (AppendRows; its texts are SqliteAppendRowsTest's).
class SqlStoreStatementTest : public StoreContractTest {};

TEST_P(SqlStoreStatementTest, BatchStatementsHaveAFewTextsWhateverTheBatchSize) {
  std::set<std::string> texts;
  auto connector = [&](bool audit_file) {
    return [&, audit_file]() -> Result<std::unique_ptr<SqlConnection>> {
      auto inner = Connect(audit_file);
      if (!inner) return std::unexpected(inner.error());
      return std::make_unique<TextRecordingConnection>(std::move(*inner), texts);
    };
  };
  auto cipher = ColumnCipher::Create(kFernetKey);
  ASSERT_TRUE(cipher.has_value());
  const bool sqlite = GetParam() == Backend::kSqlite;
  auto recorded = SqlStore::Open(sqlite ? SqlDialect::kSqlite : SqlDialect::kPostgres,
                                 connector(false), std::move(*cipher), 1,
                                 sqlite ? SqlStore::Connector(connector(true)) : nullptr);
  ASSERT_TRUE(recorded.has_value()) << recorded.error().ToString();

  CreateRun();
  std::vector<TaskInstance> tis;
  for (int i = 0; i < 8; ++i) tis.push_back(CreateTi(TaskState::kRunning, "t" + std::to_string(i)));
  int64_t audited = 0;
  for (size_t n = 1; n <= 70; ++n) {
    std::vector<Store::HeartbeatRequest> requests;
    for (size_t i = 0; i < n; ++i) {
      requests.push_back({.id = tis[i % tis.size()].id,
                          .hostname = "worker-1",
                          .pid = 4242,
                          .now = kNow + static_cast<int64_t>(n)});
    }
    auto results = (*recorded)->Heartbeats(requests);
    ASSERT_EQ(results.size(), n);
    for (const auto& result : results) {
      ASSERT_TRUE(result.has_value()) << result.error().ToString();
      EXPECT_EQ(*result, HeartbeatRefusal::kNone);
    }
    std::vector<AuditEntry> entries(n, AuditEntry{.time = 1,
                                                  .component = "api-server",
                                                  .jti = "jti",
                                                  .method = "PUT",
                                                  .path = "/execution/task-instances/x/heartbeat",
                                                  .status = 204});
    ASSERT_OK((*recorded)->AppendAudit(entries));
    audited += static_cast<int64_t>(n);
  }
  EXPECT_EQ(store_->GetTaskInstance(tis[0].id)->last_heartbeat_at, kNow + 70);
  EXPECT_EQ(store_->CountAudit().value(), audited);

  auto texts_holding = [&texts](std::string_view part) {
    return std::count_if(texts.begin(), texts.end(),
                         [part](const std::string& t) { return t.contains(part); });
  };
  // SQLite: the single-row UPDATE; PostgreSQL: its one-statement batch, which writes the
  // requests for one instance as one (here a batch repeats instances).
  EXPECT_EQ(texts_holding("UPDATE task_instance SET last_heartbeat_at"), 1);
  EXPECT_EQ(texts_holding("append to audit_log"), 1);
  EXPECT_EQ(texts_holding("INSERT INTO audit_log"), 0);
}

// SqlConnection::ExecuteEach on each driver, on a connection of its own.
class SqlConnectionTest : public StoreContractTest {
 protected:
  void SetUp() override {
    StoreContractTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto connection = Connect();
    ASSERT_TRUE(connection.has_value()) << connection.error().ToString();
    connection_ = std::move(*connection);
  }
  void TearDown() override {
    connection_.reset();
    StoreContractTest::TearDown();
  }
  // The variable `key`'s value as the database has it, or "(none)".
  std::string ValueOf(std::string_view key) {
    auto got = connection_->Execute("SELECT value FROM variable WHERE key = $1",
                                    std::vector<SqlParam>{key});
    EXPECT_TRUE(got.has_value()) << got.error().ToString();
    if (!got || got->rows.empty()) return "(none)";
    return got->rows[0][0].value_or("(null)");
  }
  static constexpr std::string_view kInsert =
      "INSERT INTO variable (key, value, description) VALUES ($1, $2, '')";
  static constexpr std::string_view kUpdate = "UPDATE variable SET value = $2 WHERE key = $1";

  std::unique_ptr<SqlConnection> connection_;
};

TEST_P(SqlConnectionTest, ExecuteEachRunsInOrderAndCountsEachRunsRows) {
  ASSERT_OK(connection_->ExecuteEach(kInsert, 2, std::vector<SqlParam>{"a", "0", "b", "0"}));
  auto changed = connection_->ExecuteEach(
      kUpdate, 2, std::vector<SqlParam>{"a", "1", "missing", "2", "a", "3", "b", "4"});
  ASSERT_TRUE(changed.has_value()) << changed.error().ToString();
  EXPECT_EQ(*changed, (std::vector<int64_t>{1, 0, 1, 1}));
  EXPECT_EQ(ValueOf("a"), "3");  // the later run wins
  EXPECT_EQ(ValueOf("b"), "4");
  EXPECT_EQ(ValueOf("missing"), "(none)");
}

TEST_P(SqlConnectionTest, ExecuteEachIsAllOrNone) {
  auto failed = connection_->ExecuteEach(
      kInsert, 2, std::vector<SqlParam>{"x", "1", "y", "2", "x", "3", "z", "4"});
  EXPECT_CODE(failed, ErrorCode::kAlreadyExists);  // the third run's error
  EXPECT_EQ(ValueOf("x"), "(none)");
  EXPECT_EQ(ValueOf("y"), "(none)");
  EXPECT_EQ(ValueOf("z"), "(none)");
  // The connection is left as it was, out of any transaction, and goes on working.
  EXPECT_TRUE(connection_->Healthy());
  auto again = connection_->ExecuteEach(kInsert, 2, std::vector<SqlParam>{"x", "5"});
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  EXPECT_EQ(*again, (std::vector<int64_t>{1}));
  EXPECT_EQ(ValueOf("x"), "5");
}

TEST_P(SqlConnectionTest, ExecuteEachJoinsAnOpenTransaction) {
  ASSERT_OK(connection_->ExecuteScript("BEGIN"));
  auto changed = connection_->ExecuteEach(kInsert, 2, std::vector<SqlParam>{"p", "1", "q", "2"});
  ASSERT_TRUE(changed.has_value()) << changed.error().ToString();
  EXPECT_EQ(ValueOf("p"), "1");  // seen inside the transaction
  ASSERT_OK(connection_->ExecuteScript("ROLLBACK"));
  EXPECT_EQ(ValueOf("p"), "(none)");  // and gone with it
  EXPECT_EQ(ValueOf("q"), "(none)");
}

TEST_P(SqlConnectionTest, ExecuteEachRefusesValuesThatDoNotMakeWholeRuns) {
  EXPECT_CODE(connection_->ExecuteEach(kInsert, 2, std::vector<SqlParam>{"a", "1", "b"}),
              ErrorCode::kInvalidArgument);
  EXPECT_CODE(connection_->ExecuteEach(kInsert, 0, std::vector<SqlParam>{}),
              ErrorCode::kInvalidArgument);
  EXPECT_EQ(ValueOf("a"), "(none)");
  auto none = connection_->ExecuteEach(kInsert, 2, {});
  ASSERT_TRUE(none.has_value()) << none.error().ToString();
  EXPECT_TRUE(none->empty());
  EXPECT_TRUE(connection_->Healthy());
}

// More runs than the socket buffers hold, both ways: PostgreSQL answers while the
// pipeline is still being sent, and neither side may wait for the other for ever.
TEST_P(SqlConnectionTest, ExecuteEachTakesALongPipeline) {
  ASSERT_OK(connection_->ExecuteEach(kInsert, 2, std::vector<SqlParam>{"long", "0"}));
  constexpr int kRuns = 20000;
  const std::string value(64, 'v');
  std::vector<SqlParam> params;
  for (int run = 0; run < kRuns - 1; ++run) {
    params.insert(params.end(), {std::string_view("no such key"), std::string_view(value)});
  }
  params.insert(params.end(), {std::string_view("long"), std::string_view("last")});
  auto changed = connection_->ExecuteEach(kUpdate, 2, params);
  ASSERT_TRUE(changed.has_value()) << changed.error().ToString();
  ASSERT_EQ(changed->size(), static_cast<size_t>(kRuns));
  EXPECT_EQ(std::count(changed->begin(), changed->end(), 0), kRuns - 1);
  EXPECT_EQ(changed->back(), 1);
  EXPECT_EQ(ValueOf("long"), "last");
}

// AppendRows: every value back as it was given, whatever it holds.
TEST_P(SqlConnectionTest, AppendRowsStoresEveryValueAsGiven) {
  const std::vector<std::string> texts = {
      "plain", "tab\there", "new\nline", "carriage\rreturn", "back\\slash", "\\.",
      "\\N",   "",          "ünïcødé ✓", "trailing\\",       " spaces ",    "a\\tb"};
  const std::vector<std::string_view> columns = {"key", "value", "description"};
  std::vector<std::string> keys;
  std::vector<SqlParam> values;
  for (size_t i = 0; i < texts.size(); ++i) keys.push_back("k" + std::to_string(i));
  for (size_t i = 0; i < texts.size(); ++i) {
    values.insert(values.end(), {std::string_view(keys[i]), std::string_view(texts[i]),
                                 std::string_view(texts[texts.size() - 1 - i])});
  }
  ASSERT_OK(connection_->AppendRows("variable", columns, values));
  for (size_t i = 0; i < texts.size(); ++i) {
    auto got = connection_->Execute("SELECT value, description FROM variable WHERE key = $1",
                                    std::vector<SqlParam>{std::string_view(keys[i])});
    ASSERT_TRUE(got.has_value()) << got.error().ToString();
    ASSERT_EQ(got->rows.size(), 1u) << keys[i];
    EXPECT_EQ(got->rows[0][0], texts[i]);
    EXPECT_EQ(got->rows[0][1], texts[texts.size() - 1 - i]);
  }
}

TEST_P(SqlConnectionTest, AppendRowsIsAllOrNone) {
  const std::vector<std::string_view> columns = {"key", "value", "description"};
  // The third row's NULL breaks a NOT NULL constraint; the second repeats no key.
  EXPECT_FALSE(connection_->AppendRows(
      "variable", columns,
      std::vector<SqlParam>{"r1", "1", "", "r2", "2", "", "r3", nullptr, "", "r4", "4", ""}));
  // A duplicate key among many rows (more than one INSERT on SQLite).
  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i) keys.push_back("d" + std::to_string(i));
  keys.back() = "d0";
  std::vector<SqlParam> values;
  for (const auto& key : keys) values.insert(values.end(), {std::string_view(key), "v", ""});
  EXPECT_CODE(connection_->AppendRows("variable", columns, values), ErrorCode::kAlreadyExists);
  auto count = connection_->Execute("SELECT count(*) FROM variable", {});
  ASSERT_TRUE(count.has_value()) << count.error().ToString();
  EXPECT_EQ(count->rows.at(0).at(0), "0");
  EXPECT_TRUE(connection_->Healthy());
  // Inside an open transaction the rows go with it.
  ASSERT_OK(connection_->ExecuteScript("BEGIN"));
  ASSERT_OK(connection_->AppendRows("variable", columns, std::vector<SqlParam>{"t", "1", ""}));
  EXPECT_EQ(ValueOf("t"), "1");
  ASSERT_OK(connection_->ExecuteScript("ROLLBACK"));
  EXPECT_EQ(ValueOf("t"), "(none)");
  EXPECT_CODE(connection_->AppendRows("variable", columns, std::vector<SqlParam>{"a", "b"}),
              ErrorCode::kInvalidArgument);
  ASSERT_OK(connection_->AppendRows("variable", columns, {}));
}

// SQLite inserts in chunks of a power of two rows up to 64: appending 1 to 200 rows
// prepares at most seven INSERT texts (a connection keeps every text it prepared).
TEST(SqliteAppendRowsTest, AppendingAnyNumberOfRowsPreparesAtMostSevenTexts) {
  auto connection = SqliteConnection::Open(":memory:", std::chrono::seconds(1));
  ASSERT_TRUE(connection.has_value()) << connection.error().ToString();
  SqliteConnection& db = **connection;
  ASSERT_OK(db.ExecuteScript("CREATE TABLE t (a INTEGER NOT NULL, b TEXT NOT NULL)"));
  const size_t before = db.PreparedStatements();
  int64_t appended = 0;
  for (int64_t rows = 1; rows <= 200; ++rows) {
    std::vector<SqlParam> values;
    for (int64_t r = 0; r < rows; ++r) values.insert(values.end(), {r, "text"});
    const std::vector<std::string_view> columns = {"a", "b"};
    ASSERT_OK(db.AppendRows("t", columns, values));
    appended += rows;
  }
  auto count = db.Execute("SELECT count(*) FROM t", {});
  ASSERT_TRUE(count.has_value()) << count.error().ToString();
  EXPECT_EQ(count->rows.at(0).at(0), std::to_string(appended));
  // Seven INSERT texts, plus BEGIN IMMEDIATE and COMMIT (and this SELECT).
  EXPECT_LE(db.PreparedStatements() - before, 7u + 3u);
}

class PostgresConnectionTest : public SqlConnectionTest {};

// A server that goes away in the middle: an error saying so, and a connection no pool keeps.
TEST_P(PostgresConnectionTest, ExecuteEachOnAConnectionTheServerEndedFailsCleanly) {
  auto pid = connection_->Execute("SELECT pg_backend_pid()", {});
  ASSERT_TRUE(pid.has_value()) << pid.error().ToString();
  const std::string backend = pid->rows.at(0).at(0).value_or("");
  auto ended = admin_->Execute("SELECT pg_terminate_backend(CAST($1 AS INTEGER))",
                               std::vector<SqlParam>{std::string_view(backend)});
  ASSERT_TRUE(ended.has_value()) << ended.error().ToString();
  auto failed = connection_->ExecuteEach(kInsert, 2, std::vector<SqlParam>{"a", "1", "b", "2"});
  EXPECT_CODE(failed, ErrorCode::kUnavailable);
  EXPECT_FALSE(connection_->Healthy());
  auto other = Connect();
  ASSERT_TRUE(other.has_value()) << other.error().ToString();
  auto count = (*other)->Execute("SELECT count(*) FROM variable", {});
  ASSERT_TRUE(count.has_value()) << count.error().ToString();
  EXPECT_EQ(count->rows.at(0).at(0), "0");
}

TEST_P(StoreContractTest, UserCrud) {
  User admin{.username = "admin",
             .password_hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
             .role = "ADMIN",
             .created_at = kNow};
  admin.tokens_valid_after = kNow + 999;  // not the caller's to set
  ASSERT_OK(store_->CreateUser(admin));
  EXPECT_CODE(store_->CreateUser(admin), ErrorCode::kAlreadyExists);
  ASSERT_OK(store_->CreateUser({.username = "viewer", .password_hash = "h", .role = "VIEWER"}));
  auto got = store_->GetUser("admin");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->password_hash, admin.password_hash);
  EXPECT_EQ(got->role, "ADMIN");
  EXPECT_EQ(got->created_at, kNow);
  EXPECT_EQ(got->tokens_valid_after, kNow);  // the creation time
  ASSERT_OK(store_->SetUserPassword("admin", "$argon2id$new", kNow + 60));
  EXPECT_EQ(store_->GetUser("admin")->password_hash, "$argon2id$new");
  EXPECT_EQ(store_->GetUser("admin")->tokens_valid_after, kNow + 60);
  EXPECT_EQ(store_->GetUser("viewer")->tokens_valid_after, 0);  // unchanged
  EXPECT_CODE(store_->SetUserPassword("nobody", "x", kNow), ErrorCode::kNotFound);
  auto users = store_->ListUsers();
  ASSERT_TRUE(users.has_value());
  ASSERT_EQ(users->size(), 2u);
  EXPECT_EQ((*users)[0].username, "admin");
  EXPECT_EQ((*users)[1].username, "viewer");
  ASSERT_OK(store_->DeleteUser("viewer"));
  EXPECT_CODE(store_->GetUser("viewer"), ErrorCode::kNotFound);
  EXPECT_CODE(store_->DeleteUser("viewer"), ErrorCode::kNotFound);
}

// --- Values ---------------------------------------------------------------------------

TEST_P(StoreContractTest, UnicodeAndLargeValuesRoundTrip) {
  const std::string key = "ключ-🔑-鍵-clé";
  std::string large;
  while (large.size() < 2 * 1024 * 1024) large += "Grüße, 世界! 🚀 \t\n\"'\\ ";
  ASSERT_OK(store_->SetVariable({.key = key, .value = large, .description = "описание"}));
  auto got = store_->GetVariable(key);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->value, large);
  EXPECT_EQ(got->description, "описание");

  CreateRun("dág-🌍", "rün-1");
  XComKey xcom{.dag_id = "dág-🌍", .run_id = "rün-1", .task_id = "tâche", .key = "值"};
  ASSERT_OK(store_->SetXCom(xcom, "\"" + large + "\""));
  EXPECT_EQ(store_->GetXCom(xcom).value_or(""), "\"" + large + "\"");

  const std::string long_password(64 * 1024, 'p');
  ASSERT_OK(store_->SetConnection(
      {.conn_id = "conn-✓", .login = "usér", .password = long_password + "🔒", .extra = large}));
  auto conn = store_->GetConnection("conn-✓");
  ASSERT_TRUE(conn.has_value()) << conn.error().ToString();
  EXPECT_EQ(conn->password, long_password + "🔒");
  EXPECT_EQ(conn->extra, large);
  EXPECT_EQ(conn->login, "usér");
}

TEST_P(StoreContractTest, RejectsTextThatIsNotUtf8OrHoldsNul) {
  const std::string with_nul("a\0b", 3);
  const std::string bad_utf8 = "caf\xc3";        // truncated sequence
  const std::string surrogate = "\xed\xa0\x80";  // U+D800
  const std::string overlong = "\xc0\xaf";
  for (const std::string& bad : {with_nul, bad_utf8, surrogate, overlong}) {
    EXPECT_CODE(store_->SetVariable({.key = "k", .value = bad}), ErrorCode::kInvalidArgument);
    EXPECT_CODE(store_->SetVariable({.key = bad, .value = "v"}), ErrorCode::kInvalidArgument);
    EXPECT_CODE(store_->SetConnection({.conn_id = "c", .password = bad}),
                ErrorCode::kInvalidArgument);
    EXPECT_CODE(store_->RevokeToken(bad, kNow), ErrorCode::kInvalidArgument);
  }
  EXPECT_CODE(store_->GetVariable("k"), ErrorCode::kNotFound);
  EXPECT_CODE(store_->GetConnection("c"), ErrorCode::kNotFound);
}

// A lookup by text no write could have stored finds nothing, on every backend: an API
// answers it 404 whichever database it runs on.
TEST_P(StoreContractTest, LookupsByTextThatCannotBeStoredFindNothing) {
  CreateRun("etl", "run1");
  ASSERT_OK(store_->SetVariable({.key = "k", .value = "v"}));
  for (const std::string& bad :
       {std::string("a\0b", 3), std::string("caf\xc3"), std::string("\xed\xa0\x80")}) {
    EXPECT_CODE(store_->GetVariable(bad), ErrorCode::kNotFound);
    EXPECT_CODE(store_->DeleteVariable(bad), ErrorCode::kNotFound);
    EXPECT_CODE(store_->GetConnection(bad), ErrorCode::kNotFound);
    EXPECT_CODE(store_->DeleteConnection(bad), ErrorCode::kNotFound);
    EXPECT_CODE(store_->GetTaskInstance(bad), ErrorCode::kNotFound);
    EXPECT_CODE(store_->GetDag(bad), ErrorCode::kNotFound);
    EXPECT_CODE(store_->GetDagRun("etl", bad), ErrorCode::kNotFound);
    EXPECT_CODE(store_->GetUser(bad), ErrorCode::kNotFound);
    EXPECT_CODE(store_->GetXCom({.dag_id = "etl", .run_id = "run1", .task_id = "t", .key = bad}),
                ErrorCode::kNotFound);
    EXPECT_CODE(store_->DeleteXCom({.dag_id = "etl", .run_id = "run1", .task_id = "t", .key = bad}),
                ErrorCode::kNotFound);
    auto revoked = store_->IsTokenRevoked(bad);
    ASSERT_TRUE(revoked.has_value()) << revoked.error().ToString();
    EXPECT_FALSE(*revoked);
  }
  EXPECT_EQ(store_->GetVariable("k")->value, "v");
}

TEST_P(StoreContractTest, SqlInjectionLookingKeysAreStoredVerbatim) {
  const std::vector<std::string> keys = {
      "x'; DROP TABLE variable; --",        "' OR '1'='1", "%", "_", "\\", "\"user\"", "$1", "?",
      "a'); DELETE FROM task_instance; --",
  };
  ASSERT_OK(store_->SetVariable({.key = "innocent", .value = "still here"}));
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_OK(store_->SetVariable({.key = keys[i], .value = "value " + std::to_string(i)}));
    ASSERT_OK(store_->SetConnection({.conn_id = keys[i], .host = keys[i], .password = keys[i]}));
    ASSERT_OK(store_->RevokeToken(keys[i], kNow));
    ASSERT_OK(store_->CreateUser({.username = keys[i], .password_hash = keys[i], .role = "USER"}));
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(store_->GetVariable(keys[i])->value, "value " + std::to_string(i)) << keys[i];
    auto c = store_->GetConnection(keys[i]);
    ASSERT_TRUE(c.has_value()) << c.error().ToString();
    EXPECT_EQ(c->host, keys[i]);
    EXPECT_EQ(c->password, keys[i]);
    EXPECT_TRUE(store_->IsTokenRevoked(keys[i]).value());
    EXPECT_EQ(store_->GetUser(keys[i])->password_hash, keys[i]);
  }
  // Wildcards match only themselves, and nothing was dropped or deleted.
  EXPECT_CODE(store_->GetVariable("innocent%"), ErrorCode::kNotFound);
  EXPECT_CODE(store_->GetVariable("'"), ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetVariable("innocent")->value, "still here");
  ASSERT_OK(store_->DeleteVariable("%"));
  EXPECT_EQ(store_->GetVariable("_")->value, "value 3");
  EXPECT_EQ(store_->ListUsers()->size(), keys.size());

  CreateRun(keys[0], keys[1]);
  TaskInstance ti{.id = NewId(), .dag_id = keys[0], .run_id = keys[1], .task_id = keys[2]};
  ASSERT_OK(store_->CreateTaskInstance(ti));
  EXPECT_EQ(store_->GetTaskInstance(ti.id)->task_id, "%");
  EXPECT_EQ(store_->ListTaskInstances(keys[0], keys[1])->size(), 1u);
  EXPECT_TRUE(store_->ListTaskInstances("%", "%")->empty());
}

TEST(OpenStoreTest, RejectsUnknownSchemesAndRelativeSqlitePaths) {
  EXPECT_CODE(OpenStore("mysql://u:hunter2@h/db"), ErrorCode::kInvalidArgument);
  auto refused = OpenStore("mysql://u:hunter2@h/db");
  EXPECT_THAT(refused.error().message(), Not(HasSubstr("hunter2")));
  EXPECT_CODE(OpenStore("sqlite://relative.db"), ErrorCode::kInvalidArgument);
  EXPECT_CODE(OpenStore("sqlite:///tmp/x.db?mode=ro"), ErrorCode::kInvalidArgument);
  EXPECT_CODE(OpenStore(""), ErrorCode::kInvalidArgument);
}

TEST(OpenStoreTest, SqliteInMemoryWorks) {
  auto store = OpenStore("sqlite:///:memory:");
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  ASSERT_OK((*store)->Migrate());
  ASSERT_OK((*store)->SetVariable({.key = "k", .value = "v"}));
  EXPECT_EQ((*store)->GetVariable("k")->value, "v");
}

TEST(OpenStoreTest, SqliteFileIsCreatedOwnerOnly) {
  std::string templ = (std::filesystem::temp_directory_path() / "airlock-store-XXXXXX");
  ASSERT_NE(mkdtemp(templ.data()), nullptr);
  const std::string path = templ + "/airlock.db";
  {
    // SQLAlchemy's four-slash form of an absolute path.
    auto store = OpenStore("sqlite:///" + path);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    ASSERT_OK((*store)->Migrate());
  }
  const auto perms = std::filesystem::status(path).permissions();
  EXPECT_EQ(perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
            std::filesystem::perms::none);
  std::filesystem::remove_all(templ);
}

TEST(OpenStoreTest, UnreachablePostgresIsUnavailableWithoutPassword) {
  // Port 1 on loopback: nothing listens there, so the connection is refused at once.
  auto store = OpenStore("postgresql://airlock:hunter2@127.0.0.1:1/airlock?connect_timeout=2");
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(store.error().message(), Not(HasSubstr("hunter2")));
  EXPECT_THAT(store.error().message(), HasSubstr("airlock:***@127.0.0.1:1"));
}

TEST(RedactDatabaseUrlTest, HidesOnlyThePassword) {
  EXPECT_EQ(RedactDatabaseUrl("postgresql://u:p%40ss@h:5432/db?x=1"),
            "postgresql://u:***@h:5432/db?x=1");
  EXPECT_EQ(RedactDatabaseUrl("postgresql://u@h/db"), "postgresql://u@h/db");
  EXPECT_EQ(RedactDatabaseUrl("postgresql://h:5432/db"), "postgresql://h:5432/db");
  EXPECT_EQ(RedactDatabaseUrl("sqlite:///a/b:c@d"), "sqlite:///a/b:c@d");
}

TEST_P(StoreContractTest, ImportErrorsAreReplacedPerBundleKeepingUnchangedRows) {
  EXPECT_TRUE(store_->ListImportErrors()->empty());
  auto entry = [](std::string bundle, std::string file, std::string trace) {
    return ImportError{.bundle_name = std::move(bundle),
                       .filename = std::move(file),
                       .stack_trace = std::move(trace)};
  };
  ASSERT_OK(store_->ReplaceImportErrors(
      "a", {entry("a", "x.py", "exited with code 1"), entry("a", "y.yaml", "y.yaml:3: bad")},
      kNow));
  ASSERT_OK(store_->ReplaceImportErrors("b", {entry("b", "x.py", "timed out")}, kNow));
  auto first = store_->ListImportErrors();
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->size(), 3u);
  EXPECT_EQ((*first)[0].bundle_name, "a");
  EXPECT_EQ((*first)[0].filename, "x.py");
  EXPECT_EQ((*first)[0].stack_trace, "exited with code 1");
  EXPECT_EQ((*first)[0].timestamp, kNow);
  EXPECT_EQ((*first)[2].bundle_name, "b");
  EXPECT_LT((*first)[0].id, (*first)[1].id);
  EXPECT_LT((*first)[1].id, (*first)[2].id);

  // x.py unchanged (same row, old time), y.yaml fixed (gone), z.sh new; bundle b untouched.
  ASSERT_OK(store_->ReplaceImportErrors(
      "a", {entry("a", "x.py", "exited with code 1"), entry("a", "z.sh", "killed")}, kNow + 60));
  auto second = store_->ListImportErrors();
  ASSERT_TRUE(second.has_value());
  ASSERT_EQ(second->size(), 3u);
  EXPECT_EQ((*second)[0].id, (*first)[0].id);
  EXPECT_EQ((*second)[0].timestamp, kNow);
  EXPECT_EQ((*second)[1].id, (*first)[2].id);
  EXPECT_EQ((*second)[2].filename, "z.sh");
  EXPECT_EQ((*second)[2].timestamp, kNow + 60);

  // A changed message keeps the id and takes the new time.
  ASSERT_OK(
      store_->ReplaceImportErrors("a", {entry("a", "x.py", "exited with code 2")}, kNow + 90));
  auto third = store_->ListImportErrors();
  ASSERT_EQ(third->size(), 2u);
  EXPECT_EQ((*third)[0].id, (*first)[0].id);
  EXPECT_EQ((*third)[0].stack_trace, "exited with code 2");
  EXPECT_EQ((*third)[0].timestamp, kNow + 90);

  EXPECT_CODE(store_->ReplaceImportErrors("a", {entry("b", "x.py", "t")}, kNow),
              ErrorCode::kInvalidArgument);
  EXPECT_CODE(store_->ReplaceImportErrors("a", {entry("a", "x", "t"), entry("a", "x", "u")}, kNow),
              ErrorCode::kInvalidArgument);
  EXPECT_CODE(store_->ReplaceImportErrors("a", {entry("a", "x", std::string("a\0b", 3))}, kNow),
              ErrorCode::kInvalidArgument);
  ASSERT_OK(store_->ReplaceImportErrors("a", {}, kNow));
  ASSERT_EQ(store_->ListImportErrors()->size(), 1u);
}

TEST(TaskStateTest, NamesRoundTrip) {
  for (TaskState s :
       {TaskState::kScheduled, TaskState::kQueued, TaskState::kRunning, TaskState::kSuccess,
        TaskState::kFailed, TaskState::kUpForRetry, TaskState::kUpstreamFailed, TaskState::kSkipped,
        TaskState::kDeferred, TaskState::kRemoved}) {
    EXPECT_EQ(ParseTaskState(TaskStateName(s)), s);
  }
  EXPECT_EQ(TaskStateName(TaskState::kUpForRetry), "up_for_retry");
  EXPECT_FALSE(ParseTaskState("Running").has_value());
  EXPECT_TRUE(IsTerminal(TaskState::kSkipped));
  EXPECT_FALSE(IsTerminal(TaskState::kUpForRetry));
}

// --- PostgreSQL: rows another transaction holds are skipped, not awaited ---------------

class PostgresSkipLockedTest : public StoreContractTest {
 protected:
  // A store whose statements give up waiting for a lock after a while (lock_timeout),
  // so that one which would wait fails instead of hanging the test.
  std::unique_ptr<Store> OpenImpatient() {
    auto store = OpenStore(url_ + "%20-clock_timeout%3D3000",
                           StoreOptions{.fernet_key = kFernetKey, .max_connections = 2});
    EXPECT_TRUE(store.has_value()) << store.error().ToString();
    return store ? std::move(*store) : nullptr;
  }
};

// Another triggerer is claiming the oldest trigger (its transaction is open): a claim
// takes the next ones at once instead of waiting for it, and never gets that one.
TEST_P(PostgresSkipLockedTest, ClaimSkipsATriggerAnotherClaimerHolds) {
  CreateRun();
  std::vector<int64_t> ids;
  ASSERT_NO_FATAL_FAILURE(DeferRunningTasks(3, ids));
  auto holder = Connect();
  ASSERT_TRUE(holder.has_value()) << holder.error().ToString();
  ASSERT_OK((*holder)->ExecuteScript("BEGIN"));
  ASSERT_OK((*holder)->Execute(
      "UPDATE task_trigger SET triggerer_id = 'other', lease_expires_at = $2 WHERE id = $1",
      std::vector<SqlParam>{ids[0], kNow + 30}));
  auto impatient = OpenImpatient();
  ASSERT_NE(impatient, nullptr);
  auto claimed = impatient->ClaimTriggers("me", 2, kNow + 30, kNow);
  ASSERT_OK(claimed);
  ASSERT_EQ(claimed->size(), 2u);
  EXPECT_EQ((*claimed)[0].id, ids[1]);
  EXPECT_EQ((*claimed)[1].id, ids[2]);
  ASSERT_OK((*holder)->ExecuteScript("COMMIT"));
  EXPECT_EQ(store_->GetTrigger(ids[0])->triggerer_id, "other");
}

// A candidate whose row another transaction holds stays scheduled; the next one is
// queued in its place, at once.
TEST_P(PostgresSkipLockedTest, QueueingSkipsATaskInstanceAnotherTransactionHolds) {
  CreateRun();
  TaskInstance a = CreateTi(TaskState::kScheduled, "a");
  TaskInstance b = CreateTi(TaskState::kScheduled, "b");
  TaskInstance c = CreateTi(TaskState::kScheduled, "c");
  auto holder = Connect();
  ASSERT_TRUE(holder.has_value()) << holder.error().ToString();
  ASSERT_OK((*holder)->ExecuteScript("BEGIN"));
  ASSERT_OK((*holder)->Execute("UPDATE task_instance SET pid = pid WHERE id = $1",
                               std::vector<SqlParam>{std::string_view(a.id)}));
  auto impatient = OpenImpatient();
  ASSERT_NE(impatient, nullptr);
  auto queued = impatient->QueueTaskInstances(std::vector<std::string>{a.id, b.id, c.id}, 2, kNow);
  ASSERT_OK(queued);
  ASSERT_EQ(queued->size(), 2u);
  EXPECT_EQ((*queued)[0].id, b.id);
  EXPECT_EQ((*queued)[1].id, c.id);
  ASSERT_OK((*holder)->ExecuteScript("COMMIT"));
  EXPECT_EQ(store_->GetTaskInstance(a.id)->state, TaskState::kScheduled);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContractTest,
                         testing::Values(Backend::kMemory, Backend::kSqlite, Backend::kPostgres),
                         BackendName);
INSTANTIATE_TEST_SUITE_P(Backends, FreshStoreTest,
                         testing::Values(Backend::kMemory, Backend::kSqlite, Backend::kPostgres),
                         BackendName);
// The memory store runs no SQL.
INSTANTIATE_TEST_SUITE_P(Backends, SqlStoreStatementTest,
                         testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);
INSTANTIATE_TEST_SUITE_P(Backends, PostgresSkipLockedTest, testing::Values(Backend::kPostgres),
                         BackendName);
INSTANTIATE_TEST_SUITE_P(Backends, PostgresHeartbeatTest, testing::Values(Backend::kPostgres),
                         BackendName);
INSTANTIATE_TEST_SUITE_P(Backends, SqlHeartbeatTest,
                         testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);
INSTANTIATE_TEST_SUITE_P(Backends, SqlConnectionTest,
                         testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);
INSTANTIATE_TEST_SUITE_P(Backends, PostgresConnectionTest, testing::Values(Backend::kPostgres),
                         BackendName);

}  // namespace
}  // namespace airlock::store
