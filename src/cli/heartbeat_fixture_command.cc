// airlock bench heartbeat-fixture: the data for load-testing the Execution API's hottest
// route with any HTTP tool. In the configured database it creates one Dag run with
// --count task instances, all running on hostname "bench" with pid 1, and writes one line
// per instance to --tokens-out: "<ti_id> <execution token>" (tokens valid for one hour).
// Each line then makes a valid request:
//   PUT /execution/task-instances/<ti_id>/heartbeat  {"hostname":"bench","pid":1}
// The tokens file is created 0600 and never overwritten.

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/commands.h"
#include "cli/component.h"
#include "common/files.h"
#include "common/log.h"
#include "common/random.h"
#include "jwt/signer.h"

namespace airlock::cli {

namespace {

struct FixtureArgs {
  std::string config_path;
  int count = 0;
  std::string tokens_out;
};

constexpr int64_t kFixtureTokenSeconds = 3600;
constexpr char kFixtureDagId[] = "bench_heartbeat";

[[noreturn]] void Fail(const std::string& message) {
  std::cerr << "airlock bench heartbeat-fixture: " << message << "\n";
  throw CLI::RuntimeError(kExitFailure);
}

void RunFixture(const FixtureArgs& args) {
  // The fixture writes to the database and mints tokens: it needs what the scheduler has.
  auto context = StartComponent(config::Component::kScheduler, args.config_path);
  if (!context) Fail(context.error().message());
  auto store = OpenConfiguredStore(context->config, /*migrate=*/true);
  if (!store) Fail(store.error().message());
  auto keys = SigningKeySource(context->config);
  if (!keys) Fail(keys.error().message());
  auto audience = context->config.GetString("execution_api", "jwt_audience");
  if (!audience) Fail(audience.error().message());
  std::optional<std::string> issuer;
  if (auto iss = context->config.GetString("api_auth", "jwt_issuer"); iss && !iss->empty()) {
    issuer = *iss;
  }

  const Clock& clock = SystemClock::Instance();
  const int64_t now = clock.NowSeconds();
  auto run_suffix = Uuid4Hex();
  if (!run_suffix) Fail(run_suffix.error().message());
  const std::string run_id = "bench__" + run_suffix->substr(0, 12);
  auto created = (*store)->CreateDagRun({.dag_id = kFixtureDagId,
                                         .run_id = run_id,
                                         .state = store::DagRunState::kRunning,
                                         .logical_date = now});
  if (!created) Fail(created.error().message());

  std::vector<store::TaskInstance> tis;
  tis.reserve(args.count);
  for (int i = 0; i < args.count; ++i) {
    auto id = Uuid4();
    if (!id) Fail(id.error().message());
    tis.push_back({.id = *id,
                   .dag_id = kFixtureDagId,
                   .run_id = run_id,
                   .task_id = "heartbeat_" + std::to_string(i),
                   .state = store::TaskState::kQueued,
                   .queued_at = now});
  }
  if (auto r = (*store)->CreateTaskInstances(tis); !r) Fail(r.error().message());

  jwt::TokenSigner signer(*keys, clock);
  std::string lines;
  for (const auto& ti : tis) {
    if (auto r = (*store)->StartTaskInstance(ti.id, "bench", 1, now); !r) {
      Fail(r.error().message());
    }
    auto token = signer.Mint({.sub = ti.id,
                              .aud = {*audience},
                              .iss = issuer,
                              .ttl_seconds = kFixtureTokenSeconds,
                              .scope = "execution"});
    if (!token) Fail(token.error().message());
    lines += ti.id + " " + *token + "\n";
  }
  if (auto r = WriteNewFile(args.tokens_out, lines, 0600); !r) Fail(r.error().message());
  std::cout << "created Dag run " << kFixtureDagId << "/" << run_id << " with " << args.count
            << " running task instances; tokens in " << args.tokens_out << "\n";
}

}  // namespace

void RegisterHeartbeatFixtureCommand(CLI::App& app) {
  CLI::App* bench = app.get_subcommand("bench");
  auto args = std::make_shared<FixtureArgs>();
  CLI::App* cmd = bench->add_subcommand(
      "heartbeat-fixture",
      "Create one Dag run with N running task instances (hostname \"bench\", pid 1) in the "
      "configured database and write \"<ti_id> <execution token>\" lines (tokens valid 1 h) "
      "for load-testing PUT /execution/task-instances/<id>/heartbeat");
  cmd->add_option("--config", args->config_path,
                  "Config file (default: $AIRLOCK_HOME/airlock.cfg)");
  cmd->add_option("--count", args->count, "Number of task instances")
      ->required()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--tokens-out", args->tokens_out,
                  "File to create (mode 0600) with one \"<ti_id> <token>\" line per instance")
      ->required();
  cmd->callback([args] { RunFixture(*args); });
}

}  // namespace airlock::cli
