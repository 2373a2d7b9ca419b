// airlock task …: the task-side client. Run inside a task process, it asks the task's
// supervisor (never the api-server: it holds no token) over the channel that
// AIRLOCK_SUPERVISOR_FD names (src/supervisor/protocol.h).
//   airlock task variable get KEY            the value, as text
//   airlock task variable set KEY VALUE
//   airlock task connection get CONN_ID      the connection, as JSON
//   airlock task xcom push KEY JSON          JSON: any JSON document ('"text"', '42', …)
//   airlock task xcom pull [--task-id T] [--map-index N] KEY    the value, as JSON
//   airlock task defer --trigger KIND --args JSON [--timeout S]  defer; the task ends here
//   airlock task trigger-event               the event that resumed this try, as JSON
// Exit codes: 0 done, 1 refused or failed (the reason on stderr), 2 bad usage.

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <iostream>

#include "cli/commands.h"
#include "cli/io.h"
#include "http/json_checks.h"
#include "supervisor/task_client.h"

namespace airlock::cli {

namespace {

using supervisor::TaskOp;
using supervisor::TaskRequest;

struct TaskArgs {
  std::string key;
  std::string value;
  std::string task_id;
  std::optional<int> map_index;
  std::optional<int64_t> timeout_seconds;
};

[[noreturn]] void Fail(const Error& error) {
  std::cerr << "airlock task: " << error.message() << "\n";
  throw CLI::RuntimeError(kExitFailure);
}

std::string Call(const TaskRequest& request) {
  auto client = supervisor::TaskClient::FromEnvironment();
  if (!client) Fail(client.error());
  auto result = client->Call(request);
  if (!result) Fail(result.error());
  return *result;
}

void VariableGet(const TaskArgs& args) {
  std::string result = Call({.op = TaskOp::kVariableGet, .key = args.key});
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(result, ec);
  if (!ec && value.is_string()) {
    std::cout << std::string_view(value.as_string()) << "\n";
  } else {
    std::cout << result << "\n";
  }
}

}  // namespace

void RegisterTaskCommands(CLI::App& app) {
  CLI::App* task = app.add_subcommand(
      "task",
      "From inside a running task: read variables and connections, push or pull XComs, and "
      "defer on a trigger, through the task's supervisor (needs AIRLOCK_SUPERVISOR_FD, set by "
      "airlock supervise)");
  task->require_subcommand(1);
  auto args = std::make_shared<TaskArgs>();

  CLI::App* variable = task->add_subcommand("variable", "Variables");
  variable->require_subcommand(1);
  CLI::App* get = variable->add_subcommand("get", "Print a variable's value");
  get->add_option("key", args->key, "Variable key")->required();
  get->callback([args] { VariableGet(*args); });
  CLI::App* set = variable->add_subcommand("set", "Set a variable");
  set->add_option("key", args->key, "Variable key")->required();
  set->add_option("value", args->value, "Value (text)")->required();
  set->callback(
      [args] { Call({.op = TaskOp::kVariableSet, .key = args->key, .value = args->value}); });

  CLI::App* connection = task->add_subcommand("connection", "Connections");
  connection->require_subcommand(1);
  CLI::App* conn_get = connection->add_subcommand("get", "Print a connection as JSON");
  conn_get->add_option("conn_id", args->key, "Connection id")->required();
  conn_get->callback(
      [args] { std::cout << Call({.op = TaskOp::kConnectionGet, .key = args->key}) << "\n"; });

  CLI::App* xcom = task->add_subcommand("xcom", "XComs of the task's Dag run");
  xcom->require_subcommand(1);
  CLI::App* push = xcom->add_subcommand("push", "Push an XCom of this task");
  push->add_option("key", args->key, "XCom key")->required();
  push->add_option("value", args->value, "Value: a JSON document")->required();
  push->callback([args] {
    // Read as the Execution API will read it, so that what it would refuse is refused here,
    // with the same words.
    auto value = http::ParseRequestJson(args->value, "the XCom value");
    if (!value) Exit(kExitUsage, value.error() + " (a JSON document; quote text: '\"text\"')");
    Call({.op = TaskOp::kXComPush, .key = args->key, .value = args->value});
  });
  CLI::App* pull = xcom->add_subcommand("pull", "Print an XCom of this Dag run as JSON");
  pull->add_option("key", args->key, "XCom key")->required();
  pull->add_option("--task-id", args->task_id, "Task that pushed it (default: this task)");
  pull->add_option("--map-index", args->map_index, "Map index of that task (default: -1)");
  pull->callback([args] {
    std::cout << Call({.op = TaskOp::kXComPull,
                       .key = args->key,
                       .task_id = args->task_id,
                       .map_index = args->map_index})
              << "\n";
  });

  CLI::App* defer = task->add_subcommand(
      "defer",
      "Defer the task until a trigger fires: the supervisor hands the trigger to the "
      "triggerer and ends the task process; when the trigger fires the task runs again "
      "(same try) and `airlock task trigger-event` prints the event. Kinds and their --args: "
      "datetime {\"moment\": RFC 3339} or {\"delay_seconds\": N}; file {\"path\": ABS, "
      "\"poll_interval\": S}; http {\"url\": URL, \"status\": CODE, \"poll_interval\": S}; "
      "exec {\"argv\": [PROGRAM, ARGS...]} (a program that exits 0 when its condition holds)");
  defer->add_option("--trigger", args->key, "Trigger kind: datetime, file, http or exec")
      ->required();
  defer->add_option("--args", args->value, "The trigger's arguments, a JSON object")->required();
  defer
      ->add_option("--timeout", args->timeout_seconds,
                   "Fail the task if the trigger has not fired after this many seconds")
      ->check(CLI::PositiveNumber);
  defer->callback([args] {
    auto parsed = http::ParseRequestJson(args->value, "--args");
    if (!parsed) Exit(kExitUsage, parsed.error());
    if (!parsed->is_object()) Exit(kExitUsage, "--args must be a JSON object");
    Call({.op = TaskOp::kDefer,
          .key = args->key,
          .value = args->value,
          .timeout_seconds = args->timeout_seconds});
  });

  CLI::App* event = task->add_subcommand(
      "trigger-event",
      "Print, as JSON, the payload of the trigger event that resumed this try of the task "
      "(exit 1 when it was not resumed by a trigger)");
  event->callback([] { std::cout << Call({.op = TaskOp::kTriggerEventGet}) << "\n"; });
}

}  // namespace airlock::cli
