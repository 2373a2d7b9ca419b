// airlock supervise: the supervisor of one task instance, as a command of `airlock`. The
// supervisor is its own small executable (src/bin/supervisor_main.cc, airlock-supervisor,
// which the local executor starts directly); this command execs it with the same
// arguments, so that operators who read `airlock --help` find it and scripts that ran
// `airlock supervise` keep working. It reads nothing before the exec: the workload, with
// its token, goes on stdin straight to airlock-supervisor.

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/io.h"
#include "common/files.h"
#include "supervisor/local_executor.h"

namespace airlock::cli {

namespace {

void ExecSupervisor(const std::string& config_path) {
  std::vector<std::string> args;
  if (!config_path.empty()) args = {"--config", config_path};
  Exit(kExitFailure, ExecBesideSelf(supervisor::kSupervisorExecutable, args));
}

}  // namespace

void RegisterSuperviseCommand(CLI::App& app) {
  auto config_path = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "supervise",
      "Run one task instance from the workload JSON on stdin (started by the scheduler's "
      "local executor; not for interactive use): exchange its workload token, run the task "
      "with a scrubbed environment, serve `airlock task` requests, heartbeat, write the task "
      "log and report the final state. Execs airlock-supervisor, installed beside airlock");
  cmd->group("Internal");
  cmd->add_option("--config", *config_path, "Config file (default: $AIRLOCK_HOME/airlock.cfg)");
  cmd->callback([config_path] { ExecSupervisor(*config_path); });
}

}  // namespace airlock::cli
