// airlock dags list|trigger|state and airlock tasks logs: REST API clients (SPEC §3) for
// an operator's shell. They never open the database: every call goes to the api-server at
// --api-url, else [cli] api_url, with a bearer token that is either
//   - exchanged at POST /auth/token/cli for --username and a password read from stdin
//     (--password-stdin) or from env AIRLOCK_PASSWORD — never from an argument, which
//     every user of the machine can read in /proc/<pid>/cmdline; or
//   - taken from env AIRLOCK_API_TOKEN (when --username is not given).
// The token is held in memory only and never printed. Outcomes: 0 success; 1 the call
// failed (connection refused, 401/403/404 and any other error status: one line naming the
// status and the server's "detail"); 2 bad usage (no credentials, --conf not a JSON object).

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/io.h"
#include "config/config.h"
#include "http/client.h"

namespace airlock::cli {

namespace {

namespace json = boost::json;

// Page size for GET /api/v2/dags: the api-server's largest (rest_api.h kMaxPageLimit).
constexpr int kPageLimit = 100;

struct ClientArgs {
  std::string config_path;
  std::string api_url;
  std::string username;
  bool password_stdin = false;
};

// An authenticated session with one api-server.
class ApiClient {
 public:
  explicit ApiClient(const ClientArgs& args) : base_(BaseUrl(args)) { token_ = Token(args); }

  // Sends the request; any status other than 200/201 ends the command (exit 1) with the
  // status and the server's detail.
  json::value Call(const std::string& method, const std::string& path,
                   const std::string& body = "") {
    http::ClientResponse response = Send(method, path, body, "application/json");
    boost::system::error_code ec;
    json::value parsed = json::parse(response.body, ec);
    if (ec) Exit(kExitFailure, method + " " + path + ": the api-server's answer is not JSON");
    return parsed;
  }

  // As Call(), but returns the body as text (Accept: text/plain).
  std::string CallText(const std::string& path) { return Send("GET", path, "", "text/plain").body; }

 private:
  static std::string BaseUrl(const ClientArgs& args) {
    std::string url = args.api_url;
    if (url.empty()) {
      auto config = config::LoadProcessConfig({.config_path = args.config_path});
      if (!config) Exit(kExitUsage, config.error());
      auto configured = config->GetString("cli", "api_url");
      if (!configured) Exit(kExitUsage, configured.error());
      url = *configured;
    }
    while (!url.empty() && url.back() == '/') url.pop_back();
    if (url.empty()) Exit(kExitUsage, "no api-server URL: give --api-url or set [cli] api_url");
    return url;
  }

  std::string Token(const ClientArgs& args) {
    if (args.username.empty()) {
      if (args.password_stdin) Exit(kExitUsage, "--password-stdin needs --username");
      const char* token = std::getenv("AIRLOCK_API_TOKEN");
      if (token == nullptr || *token == '\0') {
        Exit(kExitUsage,
             "no credentials: give --username (password from --password-stdin or "
             "AIRLOCK_PASSWORD) or set AIRLOCK_API_TOKEN");
      }
      return token;
    }
    std::string password;
    if (args.password_stdin) {
      std::getline(std::cin, password);
      if (!password.empty() && password.back() == '\r') password.pop_back();
    } else if (const char* env = std::getenv("AIRLOCK_PASSWORD")) {
      password = env;
    }
    if (password.empty()) {
      Exit(kExitUsage, "no password: give --password-stdin or set AIRLOCK_PASSWORD");
    }
    std::string body =
        json::serialize(json::object{{"username", args.username}, {"password", password}});
    password.assign(password.size(), '\0');
    http::ClientResponse response = Send("POST", "/auth/token/cli", body, "application/json");
    body.assign(body.size(), '\0');
    boost::system::error_code ec;
    json::value parsed = json::parse(response.body, ec);
    const json::value* token =
        !ec && parsed.is_object() ? parsed.as_object().if_contains("access_token") : nullptr;
    if (token == nullptr || !token->is_string()) {
      Exit(kExitFailure, "POST /auth/token/cli: no access_token in the answer");
    }
    return std::string(token->as_string());
  }

  http::ClientResponse Send(const std::string& method, const std::string& path,
                            const std::string& body, const std::string& accept) {
    http::ClientRequest request{.method = method, .url = base_ + path, .body = body};
    request.headers.emplace_back("Accept", accept);
    if (!body.empty()) request.headers.emplace_back("Content-Type", "application/json");
    if (!token_.empty()) request.headers.emplace_back("Authorization", "Bearer " + token_);
    auto response = http::Send(request);
    if (!response) Exit(kExitFailure, response.error());
    if (response->status != 200 && response->status != 201) {
      Exit(kExitFailure, method + " " + path + ": " + std::to_string(response->status) + " " +
                             Detail(response->body));
    }
    return std::move(*response);
  }

  // The "detail" of an error body, as one line (it may be a string or an object).
  static std::string Detail(const std::string& body) {
    boost::system::error_code ec;
    json::value parsed = json::parse(body, ec);
    std::string detail;
    if (!ec && parsed.is_object()) {
      if (const json::value* d = parsed.as_object().if_contains("detail")) {
        detail = d->is_string() ? std::string(d->as_string()) : json::serialize(*d);
      }
    }
    if (detail.empty()) detail = body.substr(0, 200);
    for (char& c : detail) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    return detail;
  }

  std::string base_;
  std::string token_;
};

// `s` percent-encoded for one path segment (RFC 3986 unreserved characters kept).
std::string Segment(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string StringField(const json::value& v, std::string_view name) {
  const json::value* field = v.is_object() ? v.as_object().if_contains(name) : nullptr;
  if (field == nullptr || field->is_null()) return "";
  return field->is_string() ? std::string(field->as_string()) : json::serialize(*field);
}

void ListDags(const ClientArgs& args) {
  ApiClient client(args);
  std::cout << "dag_id\tis_paused\tfileloc\n";
  for (int64_t offset = 0;;) {
    json::value page = client.Call("GET", "/api/v2/dags?limit=" + std::to_string(kPageLimit) +
                                              "&offset=" + std::to_string(offset));
    const json::value* dags = page.is_object() ? page.as_object().if_contains("dags") : nullptr;
    if (dags == nullptr || !dags->is_array()) Exit(kExitFailure, "GET /api/v2/dags: no dags");
    for (const json::value& dag : dags->as_array()) {
      std::cout << StringField(dag, "dag_id") << "\t" << StringField(dag, "is_paused") << "\t"
                << StringField(dag, "fileloc") << "\n";
    }
    offset += static_cast<int64_t>(dags->as_array().size());
    const json::value* total = page.as_object().if_contains("total_entries");
    if (dags->as_array().empty() || total == nullptr || !total->is_int64() ||
        offset >= total->as_int64()) {
      break;
    }
  }
}

struct TriggerArgs {
  std::string dag_id;
  std::string conf;
  std::string run_id;
};

void TriggerDag(const ClientArgs& args, const TriggerArgs& trigger) {
  json::object body;
  if (!trigger.conf.empty()) {
    boost::system::error_code ec;
    json::value conf = json::parse(trigger.conf, ec);
    if (ec || !conf.is_object()) Exit(kExitUsage, "--conf must be a JSON object");
    body["conf"] = std::move(conf);
  }
  if (!trigger.run_id.empty()) body["dag_run_id"] = trigger.run_id;
  ApiClient client(args);
  json::value run = client.Call("POST", "/api/v2/dags/" + Segment(trigger.dag_id) + "/dagRuns",
                                json::serialize(body));
  std::cout << "Created run " << StringField(run, "dag_run_id") << " of Dag "
            << StringField(run, "dag_id") << " (state " << StringField(run, "state") << ")\n";
}

struct RunArgs {
  std::string dag_id;
  std::string run_id;
  std::string task_id;
  int try_number = 0;
};

// Prints the run's state on the first line (as Airflow's `dags state` does), then one line
// per task instance: task_id, state, try_number.
void RunState(const ClientArgs& args, const RunArgs& run_args) {
  ApiClient client(args);
  const std::string run_path =
      "/api/v2/dags/" + Segment(run_args.dag_id) + "/dagRuns/" + Segment(run_args.run_id);
  json::value run = client.Call("GET", run_path);
  std::cout << StringField(run, "state") << "\n";
  json::value tis =
      client.Call("GET", run_path + "/taskInstances?limit=" + std::to_string(kPageLimit));
  const json::value* list =
      tis.is_object() ? tis.as_object().if_contains("task_instances") : nullptr;
  if (list == nullptr || !list->is_array()) return;
  for (const json::value& ti : list->as_array()) {
    std::cout << StringField(ti, "task_id") << "\t" << StringField(ti, "state") << "\t"
              << StringField(ti, "try_number") << "\n";
  }
}

// Prints the task log of try --try, or of the task instance's latest try.
void TaskLogs(const ClientArgs& args, const RunArgs& run_args) {
  ApiClient client(args);
  const std::string ti_path = "/api/v2/dags/" + Segment(run_args.dag_id) + "/dagRuns/" +
                              Segment(run_args.run_id) + "/taskInstances/" +
                              Segment(run_args.task_id);
  int try_number = run_args.try_number;
  if (try_number == 0) {
    json::value ti = client.Call("GET", ti_path);
    const json::value* n = ti.is_object() ? ti.as_object().if_contains("try_number") : nullptr;
    try_number = n != nullptr && n->is_int64() ? static_cast<int>(n->as_int64()) : 0;
    if (try_number < 1) {
      Exit(kExitFailure, "task " + run_args.task_id + " has not run yet (no try to show)");
    }
  }
  std::cout << client.CallText(ti_path + "/logs/" + std::to_string(try_number));
  std::cout.flush();
}

void AddClientOptions(CLI::App* cmd, ClientArgs& args) {
  cmd->add_option("--api-url", args.api_url,
                  "api-server base URL (default: [cli] api_url, http://localhost:8080)");
  cmd->add_option("--config", args.config_path, "Config file (default: $AIRLOCK_HOME/airlock.cfg)");
  cmd->add_option("--username", args.username,
                  "Log in as this user (password from --password-stdin or AIRLOCK_PASSWORD); "
                  "without it, the token in AIRLOCK_API_TOKEN is used");
  cmd->add_flag("--password-stdin", args.password_stdin,
                "Read the password from the first line of stdin");
}

}  // namespace

void RegisterDagsCommands(CLI::App& app) {
  CLI::App* dags = app.add_subcommand("dags", "Dags and their runs, through the REST API");
  dags->require_subcommand(1);

  auto list_args = std::make_shared<ClientArgs>();
  CLI::App* list = dags->add_subcommand("list", "List the Dags the api-server knows");
  AddClientOptions(list, *list_args);
  list->callback([list_args] { ListDags(*list_args); });

  auto trigger_client = std::make_shared<ClientArgs>();
  auto trigger_args = std::make_shared<TriggerArgs>();
  CLI::App* trigger = dags->add_subcommand("trigger", "Create a manual run of a Dag");
  AddClientOptions(trigger, *trigger_client);
  trigger->add_option("dag_id", trigger_args->dag_id, "Dag id")->required();
  trigger->add_option("--conf", trigger_args->conf, "The run's conf, a JSON object");
  trigger->add_option("--run-id", trigger_args->run_id, "The run's id (default: manual__<time>)");
  trigger->callback([trigger_client, trigger_args] { TriggerDag(*trigger_client, *trigger_args); });

  auto state_client = std::make_shared<ClientArgs>();
  auto state_args = std::make_shared<RunArgs>();
  CLI::App* state = dags->add_subcommand(
      "state", "Print a Dag run's state, then each task instance's state and try number");
  AddClientOptions(state, *state_client);
  state->add_option("dag_id", state_args->dag_id, "Dag id")->required();
  state->add_option("run_id", state_args->run_id, "Run id")->required();
  state->callback([state_client, state_args] { RunState(*state_client, *state_args); });

  CLI::App* tasks = app.add_subcommand("tasks", "Task instances, through the REST API");
  tasks->require_subcommand(1);
  auto logs_client = std::make_shared<ClientArgs>();
  auto logs_args = std::make_shared<RunArgs>();
  CLI::App* logs = tasks->add_subcommand("logs", "Print a task instance's log (masked)");
  AddClientOptions(logs, *logs_client);
  logs->add_option("dag_id", logs_args->dag_id, "Dag id")->required();
  logs->add_option("run_id", logs_args->run_id, "Run id")->required();
  logs->add_option("task_id", logs_args->task_id, "Task id")->required();
  logs->add_option("--try", logs_args->try_number, "Try number (default: the latest)")
      ->check(CLI::Range(1, 1000000));
  logs->callback([logs_client, logs_args] { TaskLogs(*logs_client, *logs_args); });
}

}  // namespace airlock::cli
