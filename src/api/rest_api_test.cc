// The REST API's routes: the role matrix for every route, the OpenAPI document against the
// real routes, and each route's behaviour (Airflow's field names, pagination, write-only
// connection passwords, task logs).

#include "api/rest_api.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "api/api_test_fixture.h"
#include "http/client.h"
#include "http/server.h"
#include "testing/request_mutator.h"

namespace airlock::api::testing {
namespace {

namespace json = boost::json;
constexpr char kTiId[] = "0b9f4b6e-1f4c-4d7a-9c1e-000000000001";

class RestApiTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    ASSERT_TRUE(store_
                    ->SetDag({.dag_id = "etl",
                              .bundle_name = "dags-folder",
                              .relative_fileloc = "etl.yaml",
                              .serialized_json = R"({"description":"nightly","tags":["x"]})",
                              .updated_at = kNow})
                    .has_value());
    ASSERT_TRUE(store_->SetDag({.dag_id = "zz"}).has_value());
    ASSERT_TRUE(store_
                    ->CreateDagRun({.dag_id = "etl",
                                    .run_id = "run1",
                                    .logical_date = kNow,
                                    .conf_json = R"({"a":1})"})
                    .has_value());
    ASSERT_TRUE(store_
                    ->CreateTaskInstance(
                        {.id = kTiId, .dag_id = "etl", .run_id = "run1", .task_id = "extract"})
                    .has_value());
    ASSERT_TRUE(store_->SetVariable({.key = "v1", .value = "one"}).has_value());
    ASSERT_TRUE(store_
                    ->ReplaceImportErrors("dags-folder",
                                          {{.bundle_name = "dags-folder",
                                            .filename = "broken.py",
                                            .stack_trace = "exited with code 1\nValueError: x"}},
                                          kNow)
                    .has_value());
    ASSERT_TRUE(store_
                    ->SetConnection(
                        {.conn_id = "c1", .conn_type = "postgres", .password = "conn-password-xyz"})
                    .has_value());
    std::filesystem::remove_all(log_dir_);
    const std::string dir = log_dir_ + "/dag_id=etl/run_id=run1/task_id=extract";
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/attempt=1.log")
        << "hello\n{\"event\":\"structured\",\"level\":\"info\"}\n";
    for (Role role : {Role::kViewer, Role::kUser, Role::kOp, Role::kAdmin}) {
      std::string name(RoleName(role));
      for (char& c : name) c = static_cast<char>(std::tolower(c));
      tokens_[role] = Login(name);
    }
  }

  // The route's path with its parameters filled in with objects that exist, and a body
  // that the route accepts.
  static std::pair<std::string, std::string> Concrete(const RouteInfo& route, int n) {
    std::string path = route.path;
    auto fill = [&](std::string_view param, std::string value) {
      size_t at = path.find(param);
      if (at != std::string::npos) path.replace(at, param.size(), value);
    };
    fill("{dag_id}", "etl");
    fill("{dag_run_id}", "run1");
    fill("{task_id}", "extract");
    fill("{try_number}", "1");
    fill("{variable_key}", "v1");
    fill("{connection_id}", "c1");
    fill("{import_error_id}", "1");
    std::string body;
    if (route.method == "PATCH" && path.starts_with("/api/v2/dags/"))
      body = R"({"is_paused":true})";
    if (route.method == "POST" && path.ends_with("/dagRuns"))
      body = R"({"dag_run_id":"r-)" + std::to_string(n) + R"("})";
    if (path == "/api/v2/variables" && route.method == "POST")
      body = R"({"key":"new-)" + std::to_string(n) + R"(","value":"x"})";
    if (route.method == "PATCH" && path.starts_with("/api/v2/variables/"))
      body = R"({"value":"y"})";
    if (path == "/api/v2/connections" && route.method == "POST")
      body = R"({"connection_id":"new-)" + std::to_string(n) + R"(","conn_type":"http"})";
    if (route.method == "PATCH" && path.starts_with("/api/v2/connections/"))
      body = R"({"host":"h"})";
    return {path, body};
  }

  // The body of the hostile-request tests (below), whichever store they run on.
  void MutatedRequestsAreAnsweredAndRefusedOnesChangeNothing();

  std::map<Role, std::string> tokens_;
};

TEST_F(RestApiTest, RoleMatrixForEveryRoute) {
  int n = 0;
  for (const RouteInfo& route : RestApi::Routes()) {
    if (!route.role) continue;
    for (Role role : {Role::kViewer, Role::kUser, Role::kOp, Role::kAdmin}) {
      auto [path, body] = Concrete(route, ++n);
      // Deletes run last for each role so that the object exists for the others.
      if (route.method == "DELETE") {
        ASSERT_TRUE(store_->SetVariable({.key = "v1", .value = "one"}).has_value());
        ASSERT_TRUE(store_->SetConnection({.conn_id = "c1", .conn_type = "x"}).has_value());
      }
      auto response = Call(route.method, path, body, Bearer(tokens_[role]));
      const std::string what = route.method + " " + path + " as " + std::string(RoleName(role));
      if (HasRole(role, *route.role)) {
        EXPECT_GE(response.status, 200) << what << ": " << response.body;
        EXPECT_LT(response.status, 300) << what << ": " << response.body;
      } else {
        EXPECT_EQ(response.status, 403) << what;
        EXPECT_EQ(response.body, R"({"detail":"Forbidden"})") << what;
      }
    }
    auto [path, body] = Concrete(route, ++n);
    auto anonymous = Call(route.method, path, body);
    EXPECT_EQ(anonymous.status, 401) << route.method << " " << path;
  }
}

TEST_F(RestApiTest, OpenApiDocumentDescribesExactlyTheRoutes) {
  auto response = Call("GET", "/api/v2/openapi.json");
  ASSERT_EQ(response.status, 200);
  auto doc = json::parse(response.body).as_object();
  EXPECT_TRUE(std::string(doc.at("openapi").as_string()).starts_with("3."));
  std::set<std::string> documented, served;
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    for (const auto& [method, op] : item.as_object()) {
      std::string m(method);
      for (char& c : m) c = static_cast<char>(std::toupper(c));
      documented.insert(m + " " + std::string(path));
      const json::value* role = op.as_object().if_contains("x-airlock-role");
      // The documented role is the one enforced.
      for (const RouteInfo& route : RestApi::Routes()) {
        if (route.method == m && route.path == path) {
          if (route.role) {
            ASSERT_NE(role, nullptr) << m << " " << path;
            EXPECT_EQ(role->as_string(), RoleName(*route.role)) << m << " " << path;
          } else {
            EXPECT_EQ(role, nullptr) << m << " " << path;
          }
        }
      }
    }
  }
  for (const RouteInfo& route : RestApi::Routes()) {
    served.insert(route.method + " " + route.path);
    // Each route really is served: an unmatched one would be 404 {"detail":"Not Found"}.
    auto [path, body] = Concrete(route, 0);
    auto r = Call(route.method, path, body);
    EXPECT_NE(r.body, R"({"detail":"Not Found"})") << route.method << " " << path;
    EXPECT_NE(r.status, 405) << route.method << " " << path;
  }
  EXPECT_EQ(documented, served);
}

TEST_F(RestApiTest, DagsListGetAndPause) {
  auto token = tokens_[Role::kUser];
  auto list = json::parse(Call("GET", "/api/v2/dags", "", Bearer(token)).body).as_object();
  EXPECT_EQ(list.at("total_entries").as_int64(), 2);
  auto etl = list.at("dags").as_array()[0].as_object();
  EXPECT_EQ(etl.at("dag_id").as_string(), "etl");
  EXPECT_EQ(etl.at("is_paused").as_bool(), false);
  EXPECT_EQ(etl.at("description").as_string(), "nightly");
  EXPECT_EQ(etl.at("bundle_name").as_string(), "dags-folder");
  auto paused = Call("PATCH", "/api/v2/dags/etl", R"({"is_paused":true})", Bearer(token));
  ASSERT_EQ(paused.status, 200);
  EXPECT_TRUE(store_->GetDag("etl")->is_paused);
  EXPECT_EQ(Call("PATCH", "/api/v2/dags/etl", R"({"is_paused":"yes"})", Bearer(token)).status, 422);
  EXPECT_EQ(Call("GET", "/api/v2/dags/nope", "", Bearer(token)).status, 404);
}

TEST_F(RestApiTest, Pagination) {
  auto token = tokens_[Role::kViewer];
  auto page = json::parse(Call("GET", "/api/v2/dags?limit=1&offset=1", "", Bearer(token)).body);
  EXPECT_EQ(page.at("total_entries").as_int64(), 2);
  ASSERT_EQ(page.at("dags").as_array().size(), 1u);
  EXPECT_EQ(page.at("dags").as_array()[0].at("dag_id").as_string(), "zz");
  auto empty = json::parse(Call("GET", "/api/v2/dags?offset=5", "", Bearer(token)).body);
  EXPECT_TRUE(empty.at("dags").as_array().empty());
  EXPECT_EQ(Call("GET", "/api/v2/dags?limit=-1", "", Bearer(token)).status, 422);
  EXPECT_EQ(Call("GET", "/api/v2/dags?limit=x", "", Bearer(token)).status, 422);
}

TEST_F(RestApiTest, TriggerCreatesAQueuedRun) {
  auto token = tokens_[Role::kUser];
  auto response =
      Call("POST", "/api/v2/dags/etl/dagRuns", R"({"conf":{"day":"mon"}})", Bearer(token));
  ASSERT_EQ(response.status, 200) << response.body;
  auto run = json::parse(response.body).as_object();
  std::string run_id(run.at("dag_run_id").as_string());
  EXPECT_TRUE(run_id.starts_with("manual__")) << run_id;
  EXPECT_EQ(run.at("state").as_string(), "queued");
  EXPECT_EQ(run.at("run_type").as_string(), "manual");
  EXPECT_EQ(run.at("conf").at("day").as_string(), "mon");
  auto stored = store_->GetDagRun("etl", run_id).value();
  EXPECT_EQ(stored.state, store::DagRunState::kQueued);
  EXPECT_EQ(stored.conf_json, R"({"day":"mon"})");
  EXPECT_EQ(Call("POST", "/api/v2/dags/etl/dagRuns", "{}", Bearer(token)).status, 409);  // same µs
  clock_.Advance(1);
  EXPECT_EQ(Call("POST", "/api/v2/dags/etl/dagRuns", "", Bearer(tokens_[Role::kOp])).status, 200);
  EXPECT_EQ(Call("POST", "/api/v2/dags/etl/dagRuns", R"({"conf":1})", Bearer(token)).status, 422);
  EXPECT_EQ(Call("POST", "/api/v2/dags/nope/dagRuns", "{}", Bearer(token)).status, 404);
  auto got = Call("GET", "/api/v2/dags/etl/dagRuns/" + run_id, "", Bearer(token));
  EXPECT_EQ(got.status, 200);
  auto list = json::parse(Call("GET", "/api/v2/dags/etl/dagRuns", "", Bearer(token)).body);
  EXPECT_EQ(list.at("total_entries").as_int64(), 3);
}

TEST_F(RestApiTest, AConfWithANumberOutOfRangeIsRefusedAndNoRunIsMade) {
  auto token = tokens_[Role::kUser];
  const size_t runs = store_->ListDagRuns("etl")->size();
  auto r = Call("POST", "/api/v2/dags/etl/dagRuns", R"({"conf":{"n":[1e309]}})", Bearer(token));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body,
            R"json({"detail":"Request body holds a number out of range (beyond ±1.8e308)"})json");
  EXPECT_EQ(store_->ListDagRuns("etl")->size(), runs);
}

TEST_F(RestApiTest, ABodyOrExtraNamingAMemberTwiceIsRefusedAndChangesNothing) {
  auto token = tokens_[Role::kOp];
  const size_t runs = store_->ListDagRuns("etl")->size();
  auto r = Call("POST", "/api/v2/dags/etl/dagRuns", R"({"conf":{"day":"mon","day":"tue"}})",
                Bearer(token));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body, R"({"detail":"Request body has a duplicate member name"})");
  EXPECT_EQ(store_->ListDagRuns("etl")->size(), runs);

  r = Call("POST", "/api/v2/connections",
           R"({"connection_id":"dup","conn_type":"x","extra":"{\"a\":1,\"a\":2}"})", Bearer(token));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body, R"({"detail":"Field 'extra' has a duplicate member name"})");
  EXPECT_EQ(store_->GetConnection("dup").error().code(), ErrorCode::kNotFound);
  // One stored some other way is answered masked whole: which of its passwords would a
  // reader take?
  ASSERT_TRUE(store_
                  ->SetConnection({.conn_id = "dup",
                                   .conn_type = "x",
                                   .extra = R"({"password":"***","password":"s3cret"})"})
                  .has_value());
  auto got = json::parse(Call("GET", "/api/v2/connections/dup", "", Bearer(token)).body);
  EXPECT_EQ(got.at("extra").as_string(), "***");
  // It does not stop a change of another field, and the change keeps it as it was.
  r = Call("PATCH", "/api/v2/connections/dup", R"({"password":"rotated"})", Bearer(token));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(store_->GetConnection("dup")->password, "rotated");
  EXPECT_EQ(store_->GetConnection("dup")->extra, R"({"password":"***","password":"s3cret"})");
}

TEST_F(RestApiTest, AConnectionExtraWithANumberOutOfRangeIsRefusedOrMasked) {
  auto token = tokens_[Role::kOp];
  auto r =
      Call("POST", "/api/v2/connections",
           R"({"connection_id":"big","conn_type":"x","extra":"{\"n\":1e309}"})", Bearer(token));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body,
            R"json({"detail":"Field 'extra' holds a number out of range (beyond ±1.8e308)"})json");
  EXPECT_EQ(store_->GetConnection("big").error().code(), ErrorCode::kNotFound);
  // One stored some other way is answered masked whole, never as `Infinity`.
  ASSERT_TRUE(store_->SetConnection({.conn_id = "big", .conn_type = "x", .extra = R"({"n":1e309})"})
                  .has_value());
  auto got = json::parse(Call("GET", "/api/v2/connections/big", "", Bearer(token)).body);
  EXPECT_EQ(got.at("extra").as_string(), "***");
}

TEST_F(RestApiTest, AnswersQuotingBytesThatAreNotUtf8AreStillJson) {
  auto r = Call("GET",
                "/api/v2/dags/a\xFF"
                "b",
                "", Bearer(tokens_[Role::kViewer]));
  EXPECT_EQ(r.status, 404);
  boost::system::error_code ec;
  json::value body = json::parse(r.body, ec);
  ASSERT_FALSE(ec) << r.body;
  EXPECT_NE(body.at("detail").as_string().find("a\xEF\xBF\xBD"
                                               "b"),
            json::string::npos)
      << r.body;
}

// What the REST API's requests can change, as text: compared before and after a refused
// request.
std::string RestState(store::Store& store) {
  std::string out;
  const auto dags = store.ListDags().value();
  for (const store::Dag& d : dags) {
    out += "dag " + d.dag_id + " " + std::to_string(d.is_paused) + " " + d.serialized_json + "\n";
    const auto runs = store.ListDagRuns(d.dag_id).value();
    for (const store::DagRun& r : runs) {
      out += " run " + r.run_id + " " + std::string(store::DagRunStateName(r.state)) + " " +
             std::to_string(r.logical_date) + " " + r.conf_json + "\n";
      const auto tis = store.ListTaskInstances(d.dag_id, r.run_id).value();
      for (const store::TaskInstance& ti : tis) {
        out += "  ti " + ti.id + " " + std::string(store::TaskStateName(ti.state)) + "\n";
      }
    }
  }
  const auto variables = store.ListVariables().value();
  for (const store::Variable& v : variables) {
    out += "variable " + v.key + "=" + v.value + " (" + v.description + ")\n";
  }
  const auto connections = store.ListConnections().value();
  for (const store::Connection& c : connections) {
    out += "connection " + c.conn_id + " " + c.conn_type + " " + c.host + " " + c.schema + " " +
           c.login + " " + c.password + " " + std::to_string(c.port) + " " + c.extra + "\n";
  }
  const auto users = store.ListUsers().value();
  for (const store::User& u : users) {
    out += "user " + u.username + " " + u.role + " " + u.password_hash + " " +
           std::to_string(u.tokens_valid_after) + "\n";
  }
  const auto errors = store.ListImportErrors().value();
  for (const store::ImportError& e : errors) {
    out += "import error " + e.bundle_name + " " + e.filename + " " + e.stack_trace + "\n";
  }
  return out;
}

// As the Execution API's test of the same name: hostile variations of valid requests on
// every REST route, sent over HTTP, are each answered 2xx or 4xx with a {"detail": …}
// body, never 5xx or a dropped connection, and each that is refused changes nothing.
void RestApiTest::MutatedRequestsAreAnsweredAndRefusedOnesChangeNothing() {
  auto server =
      http::Server::Start({.threads = 2}, [this](const http::Request& r, http::Respond respond) {
        router_.Dispatch(r, std::move(respond));
      });
  ASSERT_TRUE(server.has_value()) << server.error().ToString();
  const std::string base = "http://127.0.0.1:" + std::to_string((*server)->port());
  struct Base {
    std::string method, target, body, token;
  };
  const std::string admin = tokens_[Role::kAdmin], user = tokens_[Role::kUser];
  const std::string run = "/api/v2/dags/etl/dagRuns/run1";
  const std::vector<Base> bases = {
      {"GET", "/api/v2/dags?limit=10&offset=0", "", user},
      {"GET", "/api/v2/dags/etl", "", user},
      {"PATCH", "/api/v2/dags/etl", R"({"is_paused":true})", user},
      {"GET", "/api/v2/dags/etl/dagRuns?limit=5", "", user},
      {"POST", "/api/v2/dags/etl/dagRuns",
       R"({"dag_run_id":"r1","logical_date":"2027-01-15T08:00:00Z","conf":{"a":[1,2.5]}})", user},
      {"GET", run, "", user},
      {"GET", run + "/taskInstances", "", user},
      {"GET", run + "/taskInstances/extract", "", user},
      {"GET", run + "/taskInstances/extract/logs/1", "", user},
      {"GET", "/api/v2/variables?limit=3&offset=1", "", admin},
      {"POST", "/api/v2/variables", R"({"key":"k2","value":"x","description":"d"})", admin},
      {"GET", "/api/v2/variables/v1", "", admin},
      {"PATCH", "/api/v2/variables/v1", R"({"value":"y","description":"e"})", admin},
      {"DELETE", "/api/v2/variables/v1", "", admin},
      {"GET", "/api/v2/connections", "", admin},
      {"POST", "/api/v2/connections",
       R"({"connection_id":"c2","conn_type":"http","host":"h","port":80,"password":"p",)"
       R"("extra":"{\"a\":1}"})",
       admin},
      {"GET", "/api/v2/connections/c1", "", admin},
      {"PATCH", "/api/v2/connections/c1", R"({"host":"h2","port":5432,"password":"***"})", admin},
      {"DELETE", "/api/v2/connections/c1", "", admin},
      {"GET", "/api/v2/importErrors?limit=1", "", user},
      {"GET", "/api/v2/importErrors/1", "", user},
      {"GET", "/api/v2/auditLog?limit=2", "", admin},
      {"GET", "/api/v2/users", "", admin},
      {"POST", "/auth/token", R"({"username":"viewer","password":"viewer-password"})", ""},
  };
  test::RequestMutator mutator(1);
  int refused = 0, accepted = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string what;
    const Base r = mutator.Next(bases, what);
    const std::string before = RestState(*store_);
    http::Headers headers;
    if (!r.token.empty()) headers.emplace_back("Authorization", "Bearer " + r.token);
    auto answer = http::Send(
        {.method = r.method, .url = base + r.target, .headers = headers, .body = r.body});
    ASSERT_TRUE(answer.has_value()) << what << ": " << answer.error().ToString();
    ASSERT_TRUE(test::AnsweredCleanly(answer->status, answer->body)) << what;
    if (answer->status < 400) {
      ++accepted;
    } else {
      ++refused;
      EXPECT_EQ(RestState(*store_), before) << what << " → " << answer->status;
    }
  }
  EXPECT_GT(refused, 100);
  EXPECT_GT(accepted, 100);
  (*server)->Shutdown();
}

TEST_F(RestApiTest, MutatedRequestsAreAnsweredAndRefusedOnesChangeNothing) {
  MutatedRequestsAreAnsweredAndRefusedOnesChangeNothing();
}

// The same on a SQLite file: the SQL stores check what they are given on their own.
class RestApiOnSqliteTest : public RestApiTest {
 protected:
  std::string StoreUrl() override { return "sqlite:///" + db_dir_.path() + "/airlock.db"; }
};

TEST_F(RestApiOnSqliteTest, MutatedRequestsAreAnsweredAndRefusedOnesChangeNothing) {
  MutatedRequestsAreAnsweredAndRefusedOnesChangeNothing();
}

TEST_F(RestApiTest, TaskInstancesAndLogs) {
  auto token = tokens_[Role::kViewer];
  auto tis = json::parse(
      Call("GET", "/api/v2/dags/etl/dagRuns/run1/taskInstances", "", Bearer(token)).body);
  ASSERT_EQ(tis.at("total_entries").as_int64(), 1);
  auto ti = tis.at("task_instances").as_array()[0].as_object();
  EXPECT_EQ(ti.at("task_id").as_string(), "extract");
  EXPECT_EQ(ti.at("dag_run_id").as_string(), "run1");
  EXPECT_EQ(ti.at("state").as_string(), "scheduled");
  auto one = Call("GET", "/api/v2/dags/etl/dagRuns/run1/taskInstances/extract", "", Bearer(token));
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(json::parse(one.body).at("id").as_string(), kTiId);
  EXPECT_EQ(
      Call("GET", "/api/v2/dags/etl/dagRuns/run1/taskInstances/nope", "", Bearer(token)).status,
      404);
  const std::string log = "/api/v2/dags/etl/dagRuns/run1/taskInstances/extract/logs/1";
  auto response = Call("GET", log, "", Bearer(token));
  ASSERT_EQ(response.status, 200) << response.body;
  auto content = json::parse(response.body).at("content").as_array();
  ASSERT_EQ(content.size(), 2u);
  EXPECT_EQ(content[0].at("event").as_string(), "hello");
  EXPECT_EQ(content[1].at("level").as_string(), "info");
  auto text =
      Call("GET", log, "", {{"Authorization", "Bearer " + token}, {"Accept", "text/plain"}});
  EXPECT_EQ(text.body, "hello\n{\"event\":\"structured\",\"level\":\"info\"}\n");
  EXPECT_EQ(
      Call("GET", "/api/v2/dags/etl/dagRuns/run1/taskInstances/extract/logs/2", "", Bearer(token))
          .status,
      404);
  EXPECT_EQ(
      Call("GET", "/api/v2/dags/etl/dagRuns/run1/taskInstances/nope/logs/1", "", Bearer(token))
          .status,
      404);
  EXPECT_EQ(
      Call("GET", "/api/v2/dags/etl/dagRuns/run1/taskInstances/extract/logs/0", "", Bearer(token))
          .status,
      422);
  EXPECT_EQ(Call("GET", "/api/v2/dags/etl/dagRuns/nope/taskInstances", "", Bearer(token)).status,
            404);
}

TEST_F(RestApiTest, VariablesCrudMasksSensitiveValues) {
  auto token = tokens_[Role::kOp];
  auto created = Call("POST", "/api/v2/variables",
                      R"({"key":"slack_api_key","value":"xoxb-secret-value","description":"d"})",
                      Bearer(token));
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.body.find("xoxb-secret-value"), std::string::npos);
  EXPECT_EQ(json::parse(created.body).at("value").as_string(), "***");
  EXPECT_EQ(store_->GetVariable("slack_api_key")->value, "xoxb-secret-value");
  EXPECT_EQ(Call("POST", "/api/v2/variables", R"({"key":"v1","value":"x"})", Bearer(token)).status,
            409);
  EXPECT_EQ(Call("POST", "/api/v2/variables", R"({"key":"v9"})", Bearer(token)).status, 422);
  auto got = json::parse(Call("GET", "/api/v2/variables/v1", "", Bearer(token)).body);
  EXPECT_EQ(got.at("value").as_string(), "one");
  auto patched =
      Call("PATCH", "/api/v2/variables/v1", R"({"key":"v1","value":"two"})", Bearer(token));
  EXPECT_EQ(patched.status, 200);
  EXPECT_EQ(store_->GetVariable("v1")->value, "two");
  EXPECT_EQ(
      Call("PATCH", "/api/v2/variables/v1", R"({"key":"other","value":"x"})", Bearer(token)).status,
      400);
  auto list = json::parse(Call("GET", "/api/v2/variables", "", Bearer(token)).body);
  EXPECT_EQ(list.at("total_entries").as_int64(), 2);
  EXPECT_EQ(Call("DELETE", "/api/v2/variables/v1", "", Bearer(token)).status, 204);
  EXPECT_EQ(Call("GET", "/api/v2/variables/v1", "", Bearer(token)).status, 404);
  EXPECT_EQ(Call("DELETE", "/api/v2/variables/v1", "", Bearer(token)).status, 404);
}

TEST_F(RestApiTest, ConnectionPasswordsAreWriteOnly) {
  auto token = tokens_[Role::kOp];
  auto created =
      Call("POST", "/api/v2/connections",
           R"({"connection_id":"db","conn_type":"postgres","host":"h","port":5432,)"
           R"("password":"db-password-123","extra":"{\"token\":\"t-secret-1\",\"x\":1}"})",
           Bearer(token));
  ASSERT_EQ(created.status, 201) << created.body;
  for (const auto& body :
       {created.body, Call("GET", "/api/v2/connections/db", "", Bearer(token)).body,
        Call("GET", "/api/v2/connections", "", Bearer(token)).body}) {
    EXPECT_EQ(body.find("db-password-123"), std::string::npos) << body;
    EXPECT_EQ(body.find("t-secret-1"), std::string::npos) << body;
  }
  auto got = json::parse(Call("GET", "/api/v2/connections/db", "", Bearer(token)).body);
  EXPECT_EQ(got.at("password").as_string(), "***");
  EXPECT_EQ(got.at("port").as_int64(), 5432);
  EXPECT_EQ(json::parse(got.at("extra").as_string()).at("x").as_int64(), 1);
  // PATCH without a password, or with the mask, keeps it; a new one replaces it.
  ASSERT_EQ(
      Call("PATCH", "/api/v2/connections/db", R"({"host":"h2","password":"***"})", Bearer(token))
          .status,
      200);
  EXPECT_EQ(store_->GetConnection("db")->password, "db-password-123");
  EXPECT_EQ(store_->GetConnection("db")->host, "h2");
  ASSERT_EQ(
      Call("PATCH", "/api/v2/connections/db", R"({"password":"new-password-456"})", Bearer(token))
          .status,
      200);
  EXPECT_EQ(store_->GetConnection("db")->password, "new-password-456");
  EXPECT_EQ(Call("POST", "/api/v2/connections", R"({"connection_id":"db","conn_type":"x"})",
                 Bearer(token))
                .status,
            409);
  EXPECT_EQ(Call("POST", "/api/v2/connections",
                 R"({"connection_id":"e","conn_type":"x","port":"1"})", Bearer(token))
                .status,
            422);
  EXPECT_EQ(Call("DELETE", "/api/v2/connections/db", "", Bearer(token)).status, 204);
  EXPECT_EQ(Call("GET", "/api/v2/connections/db", "", Bearer(token)).status, 404);
}

TEST_F(RestApiTest, ImportErrorsAsInAirflow) {
  auto token = tokens_[Role::kViewer];
  auto list = Call("GET", "/api/v2/importErrors", "", Bearer(token));
  ASSERT_EQ(list.status, 200) << list.body;
  auto body = json::parse(list.body).as_object();
  EXPECT_EQ(body.at("total_entries").as_int64(), 1);
  ASSERT_EQ(body.at("import_errors").as_array().size(), 1u);
  auto error = body.at("import_errors").as_array()[0].as_object();
  EXPECT_EQ(error.at("import_error_id").as_int64(), 1);
  EXPECT_EQ(error.at("filename").as_string(), "broken.py");
  EXPECT_EQ(error.at("bundle_name").as_string(), "dags-folder");
  EXPECT_EQ(error.at("stack_trace").as_string(), "exited with code 1\nValueError: x");
  EXPECT_TRUE(error.at("timestamp").is_string());
  auto one = Call("GET", "/api/v2/importErrors/1", "", Bearer(token));
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(json::parse(one.body).at("filename").as_string(), "broken.py");
  EXPECT_EQ(Call("GET", "/api/v2/importErrors/2", "", Bearer(token)).status, 404);
  EXPECT_EQ(Call("GET", "/api/v2/importErrors/x", "", Bearer(token)).status, 422);
  auto empty = json::parse(Call("GET", "/api/v2/importErrors?offset=1", "", Bearer(token)).body);
  EXPECT_TRUE(empty.at("import_errors").as_array().empty());
  EXPECT_EQ(empty.at("total_entries").as_int64(), 1);
}

TEST_F(RestApiTest, AuditLogAndUsersForAdmins) {
  auto token = tokens_[Role::kAdmin];
  Call("GET", "/api/v2/dags", "", Bearer(tokens_[Role::kViewer]));
  ASSERT_TRUE(audit_->Flush().has_value());
  auto log = json::parse(Call("GET", "/api/v2/auditLog?limit=1", "", Bearer(token)).body);
  EXPECT_GE(log.at("total_entries").as_int64(), 5);
  ASSERT_EQ(log.at("audit_log").as_array().size(), 1u);
  auto newest = log.at("audit_log").as_array()[0];
  EXPECT_EQ(newest.at("path").as_string(), "/api/v2/dags");
  EXPECT_EQ(newest.at("sub").as_string(), "viewer");
  EXPECT_EQ(newest.at("jti").as_string().size(), 32u);
  auto users = Call("GET", "/api/v2/users", "", Bearer(token));
  ASSERT_EQ(users.status, 200);
  EXPECT_EQ(json::parse(users.body).at("total_entries").as_int64(), 4);
  EXPECT_EQ(users.body.find("argon2"), std::string::npos);
}

TEST_F(RestApiTest, UiPagesAndRedirect) {
  auto anonymous = Call("GET", "/");
  EXPECT_EQ(anonymous.status, 303);
  EXPECT_EQ(anonymous.Header("Location"), "/login");
  auto login = Call("GET", "/login");
  EXPECT_EQ(login.status, 200);
  EXPECT_NE(login.body.find("login-form"), std::string::npos);
  EXPECT_NE(login.Header("Content-Security-Policy").find("frame-ancestors 'none'"),
            std::string_view::npos);
  auto dashboard = Call("GET", "/", "", Cookie(tokens_[Role::kViewer]));
  EXPECT_EQ(dashboard.status, 200);
  EXPECT_NE(dashboard.body.find("/ui/app.js"), std::string::npos);
  EXPECT_EQ(Call("GET", "/ui/app.js").Header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(Call("GET", "/ui/nope.js").status, 404);
  EXPECT_EQ(Call("GET", "/ui/index.html").status, 404);
}

}  // namespace
}  // namespace airlock::api::testing
