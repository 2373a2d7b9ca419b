// airlock bench task-fixture: one queued task instance to run through the real supervisor
// path without a scheduler (tests and `bench supervisor`). In the configured database it
// creates a Dag whose serialized form holds the given task, a running Dag run and the
// queued task instance, mints the workload token a scheduler would (scope "workload",
// valid [scheduler] task_queued_timeout) and writes the workload JSON of SPEC §5 to
// --workload-out (created 0600, never overwritten). Optionally stores variables and
// connections first. Prints {"ti_id","dag_id","run_id","task_id"} on stdout.

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <iostream>

#include "cli/commands.h"
#include "cli/component.h"
#include "cli/io.h"
#include "cli/task_fixture.h"
#include "common/files.h"
#include "common/random.h"
#include "jwt/signer.h"

namespace airlock::cli {

namespace {

namespace json = boost::json;

struct FixtureArgs {
  std::string config_path;
  std::string task_json;
  std::string workload_out;
  std::string log_path;
  std::vector<std::string> variables;    // KEY=VALUE
  std::vector<std::string> connections;  // CONN_ID=PASSWORD
  std::vector<std::string> extras;       // CONN_ID=EXTRA, stored as given (no check)
  int try_number = 1;
};

std::pair<std::string, std::string> SplitAssignment(const std::string& text, const char* flag) {
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    Exit(kExitUsage, std::string(flag) + " takes NAME=VALUE");
  }
  return {text.substr(0, eq), text.substr(eq + 1)};
}

}  // namespace

Result<std::vector<FixtureTask>> CreateQueuedTasks(const config::Config& config,
                                                   store::Store& store,
                                                   const std::string& task_json, int count,
                                                   int try_number, const std::string& log_path) {
  boost::system::error_code ec;
  json::value task = json::parse(task_json, ec);
  if (ec || !task.is_object() || !task.as_object().contains("task_id") ||
      !task.as_object().at("task_id").is_string()) {
    return InvalidArgument("the task must be a JSON object with a string task_id");
  }
  const std::string task_id(task.as_object().at("task_id").as_string());
  auto keys = SigningKeySource(config);
  if (!keys) return std::unexpected(keys.error());
  auto audience = config.GetString("execution_api", "jwt_audience");
  if (!audience) return std::unexpected(audience.error());
  auto queued_timeout = config.GetFloat("scheduler", "task_queued_timeout");
  std::optional<std::string> issuer;
  if (auto iss = config.GetString("api_auth", "jwt_issuer"); iss && !iss->empty()) issuer = *iss;

  const Clock& clock = SystemClock::Instance();
  const int64_t now = clock.NowSeconds();
  auto suffix = Uuid4Hex();
  if (!suffix) return std::unexpected(suffix.error());
  const std::string dag_id = "fixture_" + suffix->substr(0, 12);
  const std::string run_id = "manual__" + suffix->substr(12, 12);
  json::object serialized{{"dag_id", dag_id}, {"tasks", json::array{task}}};
  if (auto r = store.SetDag({.dag_id = dag_id,
                             .bundle_name = "dags-folder",
                             .relative_fileloc = dag_id + ".yaml",
                             .serialized_json = json::serialize(serialized),
                             .updated_at = now});
      !r) {
    return std::unexpected(r.error());
  }
  if (auto r = store.CreateDagRun({.dag_id = dag_id,
                                   .run_id = run_id,
                                   .state = store::DagRunState::kRunning,
                                   .logical_date = now});
      !r) {
    return std::unexpected(r.error());
  }
  std::vector<store::TaskInstance> tis;
  for (int i = 0; i < count; ++i) {
    auto ti_id = Uuid4();
    if (!ti_id) return std::unexpected(ti_id.error());
    tis.push_back({.id = *ti_id,
                   .dag_id = dag_id,
                   .run_id = run_id,
                   .task_id = task_id,
                   .try_number = try_number,
                   .map_index = count == 1 ? -1 : i,
                   .state = store::TaskState::kQueued,
                   .queued_at = now});
  }
  if (auto r = store.CreateTaskInstances(tis); !r) return std::unexpected(r.error());

  jwt::TokenSigner signer(*keys, clock);
  std::vector<FixtureTask> out;
  for (const auto& ti : tis) {
    auto token = signer.Mint({.sub = ti.id,
                              .aud = {*audience},
                              .iss = issuer,
                              .ttl_seconds = static_cast<int64_t>(queued_timeout.value_or(600.0)),
                              .scope = "workload"});
    if (!token) return std::unexpected(token.error());
    json::object workload{
        {"type", "ExecuteTask"},
        {"token", *token},
        {"ti", json::object{{"id", ti.id},
                            {"dag_id", dag_id},
                            {"task_id", task_id},
                            {"run_id", run_id},
                            {"try_number", try_number},
                            {"map_index", ti.map_index}}},
        {"dag_rel_path", dag_id + ".yaml"},
        {"bundle_info", json::object{{"name", "dags-folder"}, {"version", nullptr}}},
        {"log_path", log_path.empty() ? json::value(nullptr) : json::value(log_path)},
    };
    out.push_back({.ti_id = ti.id,
                   .dag_id = dag_id,
                   .run_id = run_id,
                   .task_id = task_id,
                   .workload_json = json::serialize(workload)});
  }
  return out;
}

namespace {

void RunTaskFixture(const FixtureArgs& args) {
  // It writes to the database and mints tokens: it needs what the scheduler has.
  auto context = StartComponent(config::Component::kScheduler, args.config_path);
  if (!context) Exit(kExitFailure, context.error());
  auto store = OpenConfiguredStore(context->config, /*migrate=*/true);
  if (!store) Exit(kExitFailure, store.error());

  for (const auto& assignment : args.variables) {
    auto [key, value] = SplitAssignment(assignment, "--variable");
    if (auto r = (*store)->SetVariable({.key = key, .value = value}); !r)
      Exit(kExitFailure, r.error());
  }
  for (const auto& assignment : args.connections) {
    auto [conn_id, password] = SplitAssignment(assignment, "--connection");
    std::string extra;
    for (const auto& extra_assignment : args.extras) {
      auto [extra_id, text] = SplitAssignment(extra_assignment, "--connection-extra");
      if (extra_id == conn_id) extra = text;
    }
    if (auto r = (*store)->SetConnection({.conn_id = conn_id,
                                          .conn_type = "generic",
                                          .host = "db.example.internal",
                                          .login = "fixture",
                                          .password = password,
                                          .extra = extra});
        !r) {
      Exit(kExitFailure, r.error());
    }
  }
  auto tasks = CreateQueuedTasks(context->config, **store, args.task_json, 1, args.try_number,
                                 args.log_path);
  if (!tasks) Exit(kExitFailure, tasks.error());
  const FixtureTask& task = tasks->front();
  if (auto r = WriteNewFile(args.workload_out, task.workload_json, 0600); !r) {
    Exit(kExitFailure, r.error());
  }
  std::cout << json::serialize(json::object{{"ti_id", task.ti_id},
                                            {"dag_id", task.dag_id},
                                            {"run_id", task.run_id},
                                            {"task_id", task.task_id}})
            << "\n";
}

}  // namespace

void RegisterTaskFixtureCommand(CLI::App& app) {
  CLI::App* bench = app.get_subcommand("bench");
  auto args = std::make_shared<FixtureArgs>();
  CLI::App* cmd = bench->add_subcommand(
      "task-fixture",
      "Create a Dag holding one task (--task, its serialized JSON), a Dag run and a queued task "
      "instance in the configured database, and write the workload JSON (with a workload "
      "token) that `airlock supervise` reads on stdin");
  cmd->add_option("--config", args->config_path,
                  "Config file (default: $AIRLOCK_HOME/airlock.cfg)");
  cmd->add_option("--task", args->task_json,
                  "The task as serialized in its Dag: {\"task_id\",\"command\":[…],\"env\":{…},"
                  "\"execution_timeout\":s,\"run_as_user\":u}")
      ->required();
  cmd->add_option("--workload-out", args->workload_out, "File to create (mode 0600)")->required();
  cmd->add_option("--log-path", args->log_path, "log_path of the workload (default: none)");
  cmd->add_option("--variable", args->variables, "Store a variable first: KEY=VALUE (repeatable)");
  cmd->add_option("--connection", args->connections,
                  "Store a connection first: CONN_ID=PASSWORD (repeatable)");
  cmd->add_option("--connection-extra", args->extras,
                  "The extra of a --connection, stored as given, unchecked: CONN_ID=TEXT "
                  "(repeatable)");
  cmd->add_option("--try-number", args->try_number, "try_number of the task instance")
      ->check(CLI::Range(1, 1000));
  cmd->callback([args] { RunTaskFixture(*args); });
}

}  // namespace airlock::cli
