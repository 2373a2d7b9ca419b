// airlock supervise: the supervisor of one task instance (src/supervisor/supervisor.h).
// Started by the local executor with the workload JSON (SPEC §5) on stdin and a scrubbed
// environment; not meant to be run by hand, but documented in --help so that operators
// know what the processes under the scheduler are.
// Exit code: 0 when the task succeeded and that was reported; 1 otherwise (the reason is
// on stderr and in the task log).

#include <string.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <climits>
#include <cstring>
#include <iostream>

#include "cli/commands.h"
#include "cli/component.h"
#include "cli/io.h"
#include "common/log.h"
#include "supervisor/environment.h"
#include "supervisor/supervisor.h"

namespace airlock::cli {

namespace {

struct SuperviseArgs {
  std::string config_path;
};

// A workload is a few hundred bytes; anything near this is not one.
constexpr size_t kMaxWorkloadBytes = 1 << 20;

std::string ReadStdin() {
  std::string input;
  char buf[4096];
  while (true) {
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) Exit(kExitFailure, std::string("read(stdin): ") + std::strerror(errno));
    if (n == 0) break;
    input.append(buf, static_cast<size_t>(n));
    if (input.size() > kMaxWorkloadBytes) Exit(kExitFailure, "workload on stdin is over 1 MiB");
  }
  explicit_bzero(buf, sizeof buf);
  return input;
}

std::string OwnDirectory() {
  char path[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return "";
  std::string exe(path, static_cast<size_t>(n));
  size_t slash = exe.rfind('/');
  return slash == std::string::npos ? "" : exe.substr(0, slash);
}

void RunSupervise(const SuperviseArgs& args) {
  // First, before the token is read: the flag does not protect memory already written.
  if (auto r = supervisor::MakeNonDumpable(); !r) Exit(kExitFailure, r.error());
  std::string input = ReadStdin();
  auto workload = supervisor::ParseWorkload(input);
  explicit_bzero(input.data(), input.size());
  if (!workload) Exit(kExitFailure, workload.error());

  auto context = StartComponent(config::Component::kWorker, args.config_path);
  if (!context) Exit(kExitFailure, context.error());
  const config::Config& config = context->config;
  auto url = config.GetString("core", "execution_api_server_url");
  if (!url) Exit(kExitFailure, url.error().WithContext("[core] execution_api_server_url"));
  auto logs = config.GetPath("logging", "base_log_folder");
  if (!logs) Exit(kExitFailure, logs.error().WithContext("[logging] base_log_folder"));
  auto impersonation = config.GetString("core", "default_impersonation");
  auto allow_root = config.GetBool("core", "allow_root_tasks");

  supervisor::SupervisorOptions options{
      .execution_api_url = *url,
      .base_log_folder = *logs,
      .default_impersonation = impersonation ? *impersonation : "",
      .allow_root_tasks = allow_root.value_or(false),
      .masker = context->masker,
      .parent_environment = supervisor::CurrentEnvironment(),
      .airlock_directory = OwnDirectory(),
  };
  auto outcome = supervisor::Supervise(*workload, options);
  explicit_bzero(workload->token.data(), workload->token.size());
  if (!outcome) Exit(kExitFailure, outcome.error());
  if (outcome->reported_state != "success") throw CLI::RuntimeError(kExitFailure);
}

}  // namespace

void RegisterSuperviseCommand(CLI::App& app) {
  auto args = std::make_shared<SuperviseArgs>();
  CLI::App* cmd = app.add_subcommand(
      "supervise",
      "Run one task instance from the workload JSON on stdin (started by the scheduler's "
      "local executor; not for interactive use): exchange its workload token, run the task "
      "with a scrubbed environment, serve `airlock task` requests, heartbeat, write the task "
      "log and report the final state");
  cmd->group("Internal");
  cmd->add_option("--config", args->config_path,
                  "Config file (default: $AIRLOCK_HOME/airlock.cfg)");
  cmd->callback([args] { RunSupervise(*args); });
}

}  // namespace airlock::cli
