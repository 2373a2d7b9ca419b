#pragma once
// Each command group adds its subcommands to the root CLI11 app. A group's callbacks
// report failures by throwing CLI::RuntimeError(exit_code) after printing one line to
// stderr (that is the one place airlock uses an exception: it is CLI11's own way to end a
// run with a code). Exit codes: 0 success, 1 the operation failed (invalid token, I/O),
// 2 bad usage.

namespace CLI {
class App;
}

namespace airlock::cli {

inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

void RegisterKeysCommands(CLI::App& app);
void RegisterTokenCommands(CLI::App& app);
void RegisterBenchCommands(CLI::App& app);
void RegisterConfigCommands(CLI::App& app);
void RegisterDocsCommands(CLI::App& app);
// Adds `bench heartbeat-fixture`; call after RegisterBenchCommands.
void RegisterHeartbeatFixtureCommand(CLI::App& app);
void RegisterApiServerCommands(CLI::App& app);
void RegisterUsersCommands(CLI::App& app);
void RegisterDbCommands(CLI::App& app);
// `scheduler` and `dag-processor`; `standalone` (all components as separate processes).
void RegisterSchedulerCommands(CLI::App& app);
void RegisterStandaloneCommand(CLI::App& app);
// `supervise` (src/supervisor/) and the task-side client `task variable|connection|xcom`.
void RegisterSuperviseCommand(CLI::App& app);
void RegisterTaskCommands(CLI::App& app);
// Adds `bench task-fixture` and `bench supervisor`; call after RegisterBenchCommands.
void RegisterTaskFixtureCommand(CLI::App& app);
void RegisterSupervisorBenchCommand(CLI::App& app);
// Adds `bench tasks` (src/cli/tasks_bench_command.cc); call after RegisterBenchCommands.
void RegisterTasksBenchCommand(CLI::App& app);
// `dags list|trigger|state` and `tasks logs`: REST API clients (src/cli/dags_command.cc).
void RegisterDagsCommands(CLI::App& app);
// `triggerer` (src/triggerer/): runs deferred tasks' triggers until SIGTERM.
void RegisterTriggererCommand(CLI::App& app);
// Adds `bench triggers` (src/cli/triggers_bench_command.cc); call after RegisterBenchCommands.
void RegisterTriggersBenchCommand(CLI::App& app);

}  // namespace airlock::cli
